package dev.winnow.policy;

import java.util.List;
import java.util.Random;

/**
 * Writes a text in an encoding that Winnow's prompt cleaning or the policy's normalisation undoes,
 * one evasion class at a time, letter by letter: random letters re-encoded, or something deleted
 * slipped between letters. Word breaks (spaces) are kept, so a disguised word is still the same
 * word once undone. Each class changes at least one letter or gap of a text with letters.
 */
final class Disguise {

    /** An evasion class; {@link #undoneByTheTokenizer()} says whether the model reads the plain text. */
    enum Evasion {
        DECIMAL_ENTITIES(true),
        HEX_ENTITIES(true),
        DOUBLE_ENCODED_ENTITIES(true),
        NAMED_ENTITIES(false),
        CONTROL_CHARACTERS(true),
        ESCAPE_SEQUENCES(true),
        INVISIBLE_CHARACTERS(false),
        FULL_WIDTH_FORMS(true),
        MATH_AND_CIRCLED_LETTERS(false),
        LIGATURES(true),
        ALL_TOGETHER(false);

        private final boolean undoneByTheTokenizer;

        Evasion(boolean undoneByTheTokenizer) {
            this.undoneByTheTokenizer = undoneByTheTokenizer;
        }

        /** The tokenizer's cleaning gives the model exactly the plain text's tokens. */
        boolean undoneByTheTokenizer() {
            return undoneByTheTokenizer;
        }
    }

    /** What the cleaning deletes (ftfy's control characters): C0 but tab, LF, FF, CR; DEL; U+206A..206F; BOM; U+FFF9..FFFC. */
    static final List<String> CONTROL = List.of("\u0000", "\u0001", "\u0007", "\u0008", "\u000b", "\u000e", "\u001c",
            "\u001f", "\u007f", "\u206a", "\u206f", "\ufeff", "\ufff9", "\ufffc");
    static final List<String> ESCAPES = List.of("\u001b[31m", "\u001b[0m", "\u001b[1;32m", "\u001b[K", "\u001b[2J");
    /** Format characters and variation selectors: the normalisation drops them. */
    static final List<String> INVISIBLE = List.of("\u200b", "\u200c", "\u200d", "\u2060", "\u2061", "\u2062", "\u2063",
            "\u00ad", "\ufeff", "\ufe0f", "\ufe00", "\u180e");
    static final List<String> INVISIBLE_ENTITIES = List.of("&shy;", "&shy", "&ZeroWidthSpace;", "&zwnj;", "&zwj;",
            "&NoBreak;", "&InvisibleTimes;", "&af;");
    static final List<String> LIGATURES = List.of("ffi", "\ufb03", "ffl", "\ufb04", "ff", "\ufb00", "fi", "\ufb01",
            "fl", "\ufb02", "st", "\ufb06");
    /** First lower-case letter of Unicode's mathematical alphabets without holes: bold, double-struck, bold fraktur, monospace. */
    static final int[] MATH_LOWER = {0x1D41A, 0x1D552, 0x1D586, 0x1D68A};

    private Disguise() {
    }

    static String of(String text, Evasion evasion, Random rnd) {
        String cased = randomCase(text, rnd);
        if (evasion == Evasion.LIGATURES) {
            return ligatures(cased.toLowerCase(), rnd);
        }
        for (int attempt = 0; ; attempt++) {
            StringBuilder out = new StringBuilder();
            boolean changed = false;
            for (int i = 0; i < cased.length(); i++) {
                char c = cased.charAt(i);
                boolean letter = Character.isLetter(c);
                boolean gap = i > 0 && letter && Character.isLetter(cased.charAt(i - 1));
                boolean force = attempt > 3; // short texts: make sure something changes
                if (gap && (force || rnd.nextBoolean())) {
                    String between = between(evasion, rnd);
                    if (!between.isEmpty()) {
                        out.append(between);
                        changed = true;
                    }
                }
                String encoded = letter && (force || rnd.nextBoolean()) ? letter(c, evasion, rnd) : String.valueOf(c);
                changed |= !encoded.equals(String.valueOf(c));
                out.append(encoded);
            }
            if (changed || attempt > 5) {
                return out.toString();
            }
        }
    }

    /** What goes between two letters: something deleted, for the classes that delete. */
    private static String between(Evasion evasion, Random rnd) {
        return switch (evasion) {
            case CONTROL_CHARACTERS -> pick(CONTROL, rnd);
            case ESCAPE_SEQUENCES -> pick(ESCAPES, rnd);
            case INVISIBLE_CHARACTERS -> pick(INVISIBLE, rnd);
            case NAMED_ENTITIES -> pick(INVISIBLE_ENTITIES, rnd);
            case ALL_TOGETHER -> switch (rnd.nextInt(5)) {
                case 0 -> pick(CONTROL, rnd);
                case 1 -> pick(ESCAPES, rnd);
                case 2 -> pick(INVISIBLE, rnd);
                case 3 -> pick(INVISIBLE_ENTITIES, rnd);
                default -> "";
            };
            default -> "";
        };
    }

    /** A letter re-encoded, for the classes that re-encode. */
    private static String letter(char c, Evasion evasion, Random rnd) {
        return switch (evasion) {
            case DECIMAL_ENTITIES -> "&#" + (int) c + ";";
            case HEX_ENTITIES -> rnd.nextBoolean() ? String.format("&#x%x;", (int) c) : String.format("&#X%X;", (int) c);
            case DOUBLE_ENCODED_ENTITIES -> rnd.nextBoolean() ? "&amp;#" + (int) c + ";" : String.format("&amp;#x%x;", (int) c);
            case NAMED_ENTITIES -> "&" + c + List.of("opf;", "fr;", "scr;").get(rnd.nextInt(3));
            case FULL_WIDTH_FORMS -> String.valueOf((char) (c - 0x20 + 0xFF00));
            case MATH_AND_CIRCLED_LETTERS -> mathOrCircled(c, rnd);
            case ALL_TOGETHER -> letter(c, List.of(Evasion.DECIMAL_ENTITIES, Evasion.HEX_ENTITIES,
                    Evasion.DOUBLE_ENCODED_ENTITIES, Evasion.NAMED_ENTITIES, Evasion.FULL_WIDTH_FORMS,
                    Evasion.MATH_AND_CIRCLED_LETTERS).get(rnd.nextInt(6)), rnd);
            default -> String.valueOf(c);
        };
    }

    private static String mathOrCircled(char c, Random rnd) {
        int lower = Character.toLowerCase(c) - 'a';
        if (rnd.nextInt(5) == 0) {
            return Character.toString(0x24D0 + lower); // circled ⓐ..ⓩ
        }
        return Character.toString(MATH_LOWER[rnd.nextInt(MATH_LOWER.length)] + lower);
    }

    /** Latin ligatures for the letter pairs that have one (each pair with probability 3/4, at least one). */
    private static String ligatures(String text, Random rnd) {
        String out = text;
        for (int i = 0; i < LIGATURES.size(); i += 2) {
            if (rnd.nextInt(4) > 0) {
                out = out.replace(LIGATURES.get(i), LIGATURES.get(i + 1));
            }
        }
        for (int i = 0; i < LIGATURES.size() && out.equals(text); i += 2) {
            out = text.replace(LIGATURES.get(i), LIGATURES.get(i + 1));
        }
        return out;
    }

    private static String randomCase(String text, Random rnd) {
        StringBuilder out = new StringBuilder(text.length());
        for (char c : text.toCharArray()) {
            out.append(rnd.nextInt(3) == 0 ? Character.toUpperCase(c) : c);
        }
        return out.toString();
    }

    private static String pick(List<String> xs, Random rnd) {
        return xs.get(rnd.nextInt(xs.size()));
    }

    /** The text with everything invisible written as \\uXXXX, for failure messages. */
    static String visible(String text) {
        StringBuilder out = new StringBuilder();
        text.codePoints().forEach(cp -> {
            if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || Character.getType(cp) == Character.FORMAT || cp > 0xfff0) {
                out.append(String.format("\\u%04x", cp));
            } else {
                out.appendCodePoint(cp);
            }
        });
        return out.toString();
    }
}
