package dev.winnow.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * HTML character references decoded the two ways CLIP's reference tokenizer decodes them:
 * Python's {@code html.unescape} (OpenAI CLIP applies it twice) and ftfy's more cautious
 * {@code unescape_html} (only entities ending in ';', plus all-caps forms of lower-case names).
 * The named entities are Python's {@code html.entities.html5} table, the WHATWG list
 * ({@code html5-entities.tsv}, written by {@code src/test/resources/tokenizer/make_html5_entities.py}).
 */
final class HtmlEntities {

    /** Python html's {@code _charref}: {@code &#123;}, {@code &#x7b;}, {@code &name;} (';' optional in all three). */
    private static final Pattern CHARREF = Pattern.compile(
            "&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\\t\\n\\f <&#;]{1,32};?)");
    /** ftfy's {@code HTML_ENTITY_RE}. */
    private static final Pattern FTFY_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");

    /** Python html's {@code _invalid_charrefs}: NUL, CR, and the C1 range read as Windows-1252. */
    private static final String[] WINDOWS_1252_C1 = {
        "\u20ac", "\u0081", "\u201a", "\u0192", "\u201e", "\u2026", "\u2020", "\u2021", "\u02c6", "\u2030", "\u0160",
        "\u2039", "\u0152", "\u008d", "\u017d", "\u008f", "\u0090", "\u2018", "\u2019", "\u201c", "\u201d", "\u2022",
        "\u2013", "\u2014", "\u02dc", "\u2122", "\u0161", "\u203a", "\u0153", "\u009d", "\u017e", "\u0178"};

    private HtmlEntities() {
    }

    /** The Windows-1252 reading of a C1 control (0x80..0x9F); undefined bytes stay as they are (ftfy's "sloppy" codec). */
    static String windows1252(int c1) {
        return WINDOWS_1252_C1[c1 - 0x80];
    }

    /** Python 3's {@code html.unescape(s)}. */
    static String pythonUnescape(String s) {
        if (s.indexOf('&') < 0) {
            return s;
        }
        Matcher m = CHARREF.matcher(s);
        StringBuilder out = new StringBuilder(s.length());
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(replaceCharref(m.group(1))));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static String replaceCharref(String s) {
        if (s.charAt(0) == '#') {
            boolean hex = s.length() > 1 && (s.charAt(1) == 'x' || s.charAt(1) == 'X');
            String digits = s.substring(hex ? 2 : 1);
            if (digits.endsWith(";")) {
                digits = digits.substring(0, digits.length() - 1);
            }
            BigInteger big = new BigInteger(digits, hex ? 16 : 10);
            if (big.bitLength() > 31) {
                return "\ufffd";
            }
            int num = big.intValue();
            if (num == 0) {
                return "\ufffd";
            }
            if (num == 0x0d) {
                return "\r";
            }
            if (num >= 0x80 && num <= 0x9f) {
                return windows1252(num);
            }
            if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) {
                return "\ufffd";
            }
            if (isInvalidCodePoint(num)) {
                return "";
            }
            return Character.toString(num);
        }
        Map<String, String> html5 = Table.HTML5;
        String named = html5.get(s);
        if (named != null) {
            return named;
        }
        // the longest name that is a prefix (the standard's rule for names without ';')
        for (int x = s.length() - 1; x > 1; x--) {
            String prefix = html5.get(s.substring(0, x));
            if (prefix != null) {
                return prefix + s.substring(x);
            }
        }
        return "&" + s;
    }

    /** Python html's {@code _invalid_codepoints} (the C1 range is handled before, as Windows-1252). */
    private static boolean isInvalidCodePoint(int cp) {
        return (cp >= 0x1 && cp <= 0x8) || cp == 0xb || (cp >= 0xe && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f)
                || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
    }

    /** ftfy's {@code unescape_html}: only unambiguous references (ending in ';'); all-caps Latin names too. */
    static String ftfyUnescape(String s) {
        if (s.indexOf('&') < 0) {
            return s;
        }
        Matcher m = FTFY_ENTITY.matcher(s);
        StringBuilder out = new StringBuilder(s.length());
        while (m.find()) {
            String entity = m.group();
            String replacement = Table.FTFY.get(entity);
            if (replacement == null) {
                replacement = entity;
                if (entity.startsWith("&#")) {
                    String decoded = pythonUnescape(entity);
                    // "If html.unescape only decoded part of the string, that's not what we want."
                    replacement = decoded.indexOf(';') >= 0 ? entity : decoded;
                }
            }
            m.appendReplacement(out, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** The tables, read once on first use. */
    private static final class Table {
        static final Map<String, String> HTML5 = readHtml5();
        static final Map<String, String> FTFY = ftfyEntities();

        private static Map<String, String> readHtml5() {
            Map<String, String> map = new HashMap<>();
            try (InputStream in = HtmlEntities.class.getResourceAsStream("html5-entities.tsv")) {
                if (in == null) {
                    throw new IllegalStateException("html5-entities.tsv is missing from the classpath");
                }
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    int tab = line.indexOf('\t');
                    StringBuilder text = new StringBuilder();
                    for (String hex : line.substring(tab + 1).split(" ")) {
                        text.appendCodePoint(Integer.parseInt(hex, 16));
                    }
                    map.put(line.substring(0, tab), text.toString());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return Collections.unmodifiableMap(map);
        }

        /** ftfy's {@code _build_html_entities}: "&name;" for names with ';', plus "&NAME;" for lower-case names Python would not decode. */
        private static Map<String, String> ftfyEntities() {
            Map<String, String> map = new HashMap<>();
            for (Map.Entry<String, String> e : HTML5.entrySet()) {
                String name = e.getKey();
                if (!name.endsWith(";")) {
                    continue;
                }
                map.put("&" + name, e.getValue());
                if (name.equals(name.toLowerCase(Locale.ROOT))) {
                    String upper = "&" + name.toUpperCase(Locale.ROOT);
                    if (pythonUnescape(upper).equals(upper)) {
                        map.put(upper, e.getValue().toUpperCase(Locale.ROOT));
                    }
                }
            }
            return Collections.unmodifiableMap(map);
        }
    }
}
