package dev.winnow.tokenizer;

import java.text.Normalizer;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The text cleaning of OpenAI CLIP's {@code simple_tokenizer.py}, the tokenizer Stable Diffusion's
 * text encoders were trained with: {@code basic_clean} ({@code ftfy.fix_text}, then
 * {@code html.unescape} twice, then strip), {@code whitespace_clean} (runs of Unicode whitespace to
 * one space) and lower-casing.
 *
 * <p>{@link #fixText} is ftfy 6.3's {@code fix_text} with its default settings, step for step,
 * except {@code fix_encoding}: text that is already mojibake (UTF-8 read as Windows-1252, such as
 * "cafÃ©") is not repaired and tokenizes as written. Line by line, repeated until nothing changes:
 * HTML entities ending in ';' decoded (only while no line so far contains '&lt;'), C1 controls
 * read as Windows-1252, Latin ligatures split (ﬁ → fi), full- and half-width forms to their
 * normal width (ＡＢＣ → ABC, U+3000 → space), curly quotes and apostrophes straightened,
 * line breaks unified, surrogates repaired, terminal escapes and stray control characters
 * removed, then NFC.
 *
 * <p>This is the one cleaning of a prompt: the tokenizer encodes what it returns, and the prompt
 * policy reads what it returns ({@code dev.winnow.policy.PromptPolicy}), so a disguise that the
 * cleaning undoes (an HTML entity, a control character between two letters, an escape sequence)
 * reaches the policy already undone, exactly as it reaches the model.
 */
public final class ClipTextCleaner {

    private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001b\\[((?:\\d|;)*)([a-zA-Z])");
    private static final Pattern SINGLE_QUOTES = Pattern.compile("[\u02bc\u2018-\u201b]");
    private static final Pattern DOUBLE_QUOTES = Pattern.compile("[\u201c-\u201f]");

    private ClipTextCleaner() {
    }

    /** {@code whitespace_clean(basic_clean(text)).lower()}: what CLIP's pre-tokenizer pattern runs on. */
    public static String clean(String text) {
        String s = fixText(text);
        s = HtmlEntities.pythonUnescape(HtmlEntities.pythonUnescape(s)).strip();
        s = WHITESPACE.matcher(s).replaceAll(" ").strip();
        return s.toLowerCase(Locale.ROOT);
    }

    /** ftfy's {@code fix_text} (defaults, without the mojibake repair): line by line, as ftfy segments. */
    static String fixText(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean unescapeHtml = true;
        int pos = 0;
        while (pos < text.length()) {
            int lineEnd = text.indexOf('\n', pos) + 1;
            if (lineEnd == 0) {
                lineEnd = text.length();
            }
            String segment = text.substring(pos, lineEnd);
            // unescape_html="auto": text with '<' is probably HTML; from that line on, entities stay
            if (segment.indexOf('<') >= 0) {
                unescapeHtml = false;
            }
            out.append(fixSegment(segment, unescapeHtml));
            pos = lineEnd;
        }
        return out.toString();
    }

    /** ftfy's {@code fix_and_explain}: every fixer in order, until a pass changes nothing. */
    private static String fixSegment(String text, boolean unescapeHtml) {
        while (true) {
            String before = text;
            if (unescapeHtml) {
                text = HtmlEntities.ftfyUnescape(text);
            }
            text = fixC1Controls(text);
            text = fixLatinLigatures(text);
            text = fixCharacterWidth(text);
            text = uncurlQuotes(text);
            text = fixLineBreaks(text);
            text = fixSurrogates(text);
            text = ANSI_ESCAPE.matcher(text).replaceAll("");
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(before)) {
                return text;
            }
        }
    }

    /** C1 controls (U+0080..U+009F) as their Windows-1252 characters, as browsers read them. */
    static String fixC1Controls(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x80 && c <= 0x9f) {
                if (out == null) {
                    out = new StringBuilder(s.length()).append(s, 0, i);
                }
                out.append(HtmlEntities.windows1252(c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? s : out.toString();
    }

    /** ftfy's {@code LIGATURES}: Latin typographic ligatures and the Dutch and Slavic digraph letters. */
    static String fixLatinLigatures(String s) {
        StringBuilder out = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> out.append(switch (cp) {
            case 0x0132 -> "IJ";
            case 0x0133 -> "ij";
            case 0x0149 -> "\u02bcn";
            case 0x01f1 -> "DZ";
            case 0x01f2 -> "Dz";
            case 0x01f3 -> "dz";
            case 0x01c4 -> "D\u017d";
            case 0x01c5 -> "D\u017e";
            case 0x01c6 -> "d\u017e";
            case 0x01c7 -> "LJ";
            case 0x01c8 -> "Lj";
            case 0x01c9 -> "lj";
            case 0x01ca -> "NJ";
            case 0x01cb -> "Nj";
            case 0x01cc -> "nj";
            case 0xfb00 -> "ff";
            case 0xfb01 -> "fi";
            case 0xfb02 -> "fl";
            case 0xfb03 -> "ffi";
            case 0xfb04 -> "ffl";
            case 0xfb05 -> "\u017ft";
            case 0xfb06 -> "st";
            default -> Character.toString(cp);
        }));
        return out.toString();
    }

    /** ftfy's {@code WIDTH_MAP}: U+3000 to a space, U+FF01..U+FFEF to their NFKC form. */
    static String fixCharacterWidth(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == 0x3000) {
                out.append(' ');
            } else if (c >= 0xff01 && c <= 0xffef) {
                out.append(Normalizer.normalize(String.valueOf(c), Normalizer.Form.NFKC));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** ‘ ’ ‚ ‛ ʼ → ' and “ ” „ ‟ → ". */
    static String uncurlQuotes(String s) {
        return SINGLE_QUOTES.matcher(DOUBLE_QUOTES.matcher(s).replaceAll("\"")).replaceAll("'");
    }

    private static String fixLineBreaks(String s) {
        return s.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
                .replace("\u0085", "\n");
    }

    /** A lone surrogate becomes U+FFFD (pairs are already characters in a Java string). */
    private static String fixSurrogates(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean paired = Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
            if (paired) {
                if (out != null) {
                    out.append(c).append(s.charAt(i + 1));
                }
                i++;
            } else if (Character.isSurrogate(c)) {
                if (out == null) {
                    out = new StringBuilder(s.length()).append(s, 0, i);
                }
                out.append('\ufffd');
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? s : out.toString();
    }

    /** ftfy's {@code CONTROL_CHARS}: C0 controls but tab, LF, FF and CR; DEL; U+206A..206F; BOM; U+FFF9..FFFC. */
    private static String removeControlChars(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean control = c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f
                    || (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
            if (!control) {
                out.append(c);
            }
        }
        return out.toString();
    }
}
