package dev.winnow.policy;

import com.ibm.icu.lang.UCharacter;
import com.ibm.icu.text.SpoofChecker;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A prompt as the policy reads it: the words left once the usual evasions are undone. Terms go
 * through the same steps, so a term and its disguises meet in one form:
 * <ol>
 *   <li>Unicode NFKC (full-width and other compatibility forms become plain letters) and full
 *       case folding;</li>
 *   <li>invisible characters (format controls such as zero-width spaces and joiners, soft
 *       hyphens, variation selectors) and combining marks (after canonical decomposition)
 *       removed;</li>
 *   <li>every non-ASCII letter replaced by its Unicode TR39 confusable skeleton when that is
 *       Latin (Cyrillic {@code о}, Greek {@code ο}, dotless {@code ı} … become {@code o},
 *       {@code o}, {@code i});</li>
 *   <li>the common digit and symbol substitutions undone: 0→o, 1→i, 3→e, 4→a, 5→s, 7→t, @→a,
 *       $→s; since 1 may stand for i or l, l and i are read as one letter;</li>
 *   <li>split into words of letters; a run of two or more single letters (written with spaces,
 *       dots, dashes or underscores between them) joined back into one word.</li>
 * </ol>
 * The text the model sees is never changed: this is only how the policy reads it.
 */
public final class PromptNormalizer {

    private static final SpoofChecker SPOOF = new SpoofChecker.Builder().build();

    private PromptNormalizer() {
    }

    /** The words of {@code text} in the policy's form. */
    public static List<String> words(String text) {
        String s = Normalizer.normalize(text, Normalizer.Form.NFKC);
        s = UCharacter.foldCase(s, true);
        s = Normalizer.normalize(s, Normalizer.Form.NFD);
        StringBuilder plain = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            int type = Character.getType(cp);
            if (type == Character.FORMAT || type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK
                    || type == Character.COMBINING_SPACING_MARK || (cp >= 0xFE00 && cp <= 0xFE0F)) {
                return; // invisible, or a mark on a letter
            }
            if (cp > 0x7F && Character.isLetter(cp)) {
                String skeleton = SPOOF.getSkeleton(new String(Character.toChars(cp))).toLowerCase(Locale.ROOT);
                if (skeleton.chars().allMatch(c -> c >= 'a' && c <= 'z')) {
                    plain.append(skeleton);
                    return;
                }
            }
            plain.appendCodePoint(cp);
        });
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        for (int i = 0; i < plain.length(); i++) {
            char c = substitute(plain.charAt(i));
            if (Character.isLetter(c)) {
                word.append(c);
            } else if (word.length() > 0) {
                words.add(word.toString());
                word.setLength(0);
            }
        }
        if (word.length() > 0) {
            words.add(word.toString());
        }
        return joinSpelledOut(words);
    }

    /** Digits and symbols that stand for letters; l and i read as one letter (1 stands for either). */
    private static char substitute(char c) {
        return switch (c) {
            case '0' -> 'o';
            case '1', 'l' -> 'i';
            case '3' -> 'e';
            case '4', '@' -> 'a';
            case '5', '$' -> 's';
            case '7' -> 't';
            default -> c;
        };
    }

    /** "z o r b l a x" → "zorblax": runs of two or more one-letter words become one word. */
    private static List<String> joinSpelledOut(List<String> words) {
        List<String> out = new ArrayList<>();
        StringBuilder run = new StringBuilder();
        int runLength = 0;
        for (String w : words) {
            if (w.length() == 1) {
                run.append(w);
                runLength++;
                continue;
            }
            flush(out, run, runLength);
            run.setLength(0);
            runLength = 0;
            out.add(w);
        }
        flush(out, run, runLength);
        return out;
    }

    private static void flush(List<String> out, StringBuilder run, int runLength) {
        if (runLength > 0) {
            out.add(run.toString()); // one letter stays itself; several become the word they spell
        }
    }
}
