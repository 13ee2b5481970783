package dev.winnow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ClipTokenizerTest {

    /** The real CLIP vocabulary lives beside the repository (never copied into it). */
    static final Path CLIP = Path.of("..", "shared", "clip-tokenizer");
    static final Path TINY = Path.of("models", "shapes-scenes", "tokenizer");

    static ClipTokenizer clip;
    static ClipTokenizer tiny;

    @BeforeAll
    static void load() {
        tiny = ClipTokenizer.load(TINY, 77, ClipTokenizer.END_TOKEN);
        if (Files.isRegularFile(CLIP.resolve("vocab.json"))) {
            clip = ClipTokenizer.load(CLIP, 77, ClipTokenizer.END_TOKEN);
        }
    }

    static Stream<Arguments> golden() throws IOException {
        Path file = CLIP.resolve("golden-public.jsonl");
        if (!Files.isRegularFile(file)) {
            return Stream.of(Arguments.of("(skipped: " + file + " is absent)", null));
        }
        ObjectMapper json = new ObjectMapper();
        List<Arguments> cases = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (!line.isBlank()) {
                JsonNode node = json.readTree(line);
                int[] ids = new int[node.get("input_ids").size()];
                Arrays.setAll(ids, i -> node.get("input_ids").get(i).asInt());
                cases.add(Arguments.of(node.get("text").asText(), ids));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "CLIP gives the reference ids for \"{0}\"")
    @MethodSource("golden")
    void realClipVocabularyGivesTheReferenceIds(String text, int[] expected) {
        assumeTrue(clip != null && expected != null, "../shared/clip-tokenizer is absent");
        assertArrayEquals(expected, clip.encodeUnpadded(text), text);
    }

    /**
     * Typographic and HTML text as phones and web pages produce it, with the ids of OpenAI CLIP's
     * reference tokenizer after its text fixing. Derived by hand from the documented rules, not by
     * running the reference: see src/test/resources/tokenizer/derive_typographic_golden.py.
     */
    static Stream<Arguments> typographic() throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<Arguments> cases = new ArrayList<>();
        try (InputStream in = ClipTokenizerTest.class.getResourceAsStream("/tokenizer/typographic-golden.jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank()) {
                    JsonNode node = json.readTree(line);
                    int[] ids = new int[node.get("input_ids").size()];
                    Arrays.setAll(ids, i -> node.get("input_ids").get(i).asInt());
                    cases.add(Arguments.of(node.get("why").asText(), node.get("text").asText(), node.get("fixed").asText(), ids));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}: \"{1}\" is cleaned as the reference cleans it")
    @MethodSource("typographic")
    void typographicTextIsCleanedAsTheReferenceCleansIt(String why, String text, String fixed, int[] ids) {
        String expected = fixed.replaceAll("(?U)\\s+", " ").strip().toLowerCase(java.util.Locale.ROOT);
        assertEquals(expected, ClipTokenizer.clean(text), why);
    }

    @ParameterizedTest(name = "{0}: \"{1}\" gives the reference ids")
    @MethodSource("typographic")
    void typographicTextGivesTheReferenceIds(String why, String text, String fixed, int[] ids) {
        assumeTrue(clip != null, "../shared/clip-tokenizer is absent");
        assertArrayEquals(ids, clip.encodeUnpadded(text), why + ": " + text);
    }

    /**
     * transformers 5 saves a pack's tokenizer as tokenizer.json alone (no vocab.json, no
     * merges.txt): the same vocabulary and merges read from it give the same ids, which are
     * transformers' own (CLIPTokenizerFast on the fixtures' vocabulary, recorded here).
     */
    @Test
    void aTokenizerJsonAloneGivesTheSameIdsAsVocabAndMerges() {
        ClipTokenizer fromJson = ClipTokenizer.load(Path.of("src/test/resources/tokenizer/hf-tokenizer-json"), 77, "<|endoftext|>");
        ClipTokenizer fromFiles = ClipTokenizer.load(Path.of("src/test/fixture-packs/sd15-optimum-fixture/tokenizer"), 77, "<|endoftext|>");
        assertArrayEquals(new int[] {618, 320, 542, 532, 75, 68, 69, 339, 611, 320, 546, 536, 619},
                fromJson.encodeUnpadded("a red circle left of a blue square"));
        assertArrayEquals(new int[] {618, 320, 612, 611, 616, 581, 551, 537, 267, 587, 256, 619},
                fromJson.encodeUnpadded("A photo of the BIG green triangle, centred!"));
        for (String prompt : List.of("a red circle left of a blue square", "purple   shapes\u00a0with  grey background", "")) {
            assertArrayEquals(fromFiles.encodeUnpadded(prompt), fromJson.encodeUnpadded(prompt), prompt);
        }
        assertEquals(fromFiles.vocabSize(), fromJson.vocabSize());
    }

    @Test
    void aLiteralSpecialTokenInAPromptIsOneToken() {
        assertArrayEquals(new int[] {tiny.startId(), id("red"), tiny.endId(), id("circle"), tiny.endId()},
                tiny.encodeUnpadded("red <|endoftext|> circle"));
        assertArrayEquals(new int[] {tiny.startId(), tiny.startId(), id("red"), tiny.endId()},
                tiny.encodeUnpadded("<|StartOfText|>red"));
    }

    @Test
    void theTokensSayHowLongThePromptWasBeforeTruncation() {
        Tokens t = tiny.tokenize("red circle ".repeat(60));
        assertEquals(2 + 120, t.promptLength());
        assertEquals(77, t.tokenCount());
        Tokens shortOne = tiny.tokenize("red circle");
        assertEquals(4, shortOne.promptLength());
        assertEquals(shortOne.tokenCount(), shortOne.promptLength());
    }

    @Test
    void anEmptyPromptIsJustStartAndEndThenPadding() {
        Tokens t = tiny.tokenize("");
        assertEquals(2, t.tokenCount());
        assertFalse(t.truncated());
        assertEquals(77, t.inputIds().length);
        assertEquals(tiny.startId(), t.inputIds()[0]);
        assertTrue(IntStream.range(1, 77).allMatch(i -> t.inputIds()[i] == tiny.endId()));
    }

    @Test
    void anOverLongPromptIsTruncatedWithTheEndTokenKeptLast() {
        Tokens t = tiny.tokenize("red circle ".repeat(60));
        assertTrue(t.truncated());
        assertEquals(77, t.tokenCount());
        assertEquals(tiny.endId(), t.inputIds()[76]);
        assertEquals(77, tiny.encodeUnpadded("red circle ".repeat(60)).length);
    }

    @Test
    void aPromptOfExactlySeventyFiveWordsIsNotTruncated() {
        Tokens t = tiny.tokenize("red ".repeat(75));
        assertFalse(t.truncated());
        assertEquals(77, t.tokenCount());
    }

    @Test
    void caseAndRepeatedSpacesDoNotChangeTheIds() {
        assertArrayEquals(tiny.encodeUnpadded("a red circle"), tiny.encodeUnpadded("  A   RED\tcircle \n"));
    }

    @Test
    void everyShapesWorldWordIsOneToken() {
        int[] ids = tiny.encodeUnpadded("a purple triangle on a gray background");
        assertEquals(2 + 7, ids.length);
    }

    @Test
    void punctuationSplitsFromWords() {
        assertArrayEquals(
                new int[] {tiny.startId(), id("red"), id(","), id("circle"), id("!"), tiny.endId()},
                tiny.encodeUnpadded("red, circle!"));
    }

    @Test
    void textOutsideTheVocabularysWordsFallsBackToItsUtf8Bytes() {
        // "🙂" is F0 9F 99 82; the tiny vocabulary has no merges for it, so each byte is its own symbol
        int[] ids = tiny.encodeUnpadded("\uD83D\uDE42");
        String[] symbols = {"\u00f0", "\u0141", "\u013b", "\u0124</w>"};   // GPT-2/CLIP's byte-to-character map
        assertEquals(2 + symbols.length, ids.length, Arrays.toString(ids));
        for (int i = 0; i < symbols.length; i++) {
            assertEquals(tinyVocab(symbols[i]), ids[i + 1], "byte " + i);
        }
    }

    @Test
    void composedAndDecomposedAccentsGiveTheSameIds() {
        assertArrayEquals(tiny.encodeUnpadded("caf\u00e9"), tiny.encodeUnpadded("cafe\u0301"));
    }

    @Test
    void htmlEntitiesAreUnescapedAsClipDoes() {
        assertArrayEquals(tiny.encodeUnpadded("red & blue"), tiny.encodeUnpadded("red &amp; blue"));
    }

    @Test
    void sdTwoPadsWithTheExclamationMark() {
        ClipTokenizer sd2 = ClipTokenizer.load(TINY, 77, "!");
        Tokens t = sd2.tokenize("red circle");
        assertEquals(sd2.padId(), t.inputIds()[76]);
        assertEquals(0, sd2.padId(), "'!' without the word-end mark is id 0, as in SD 2.x");
    }

    @Test
    void aMissingVocabularyNamesTheFile() {
        TokenizerLoadException e = org.junit.jupiter.api.Assertions.assertThrows(TokenizerLoadException.class,
                () -> ClipTokenizer.load(Path.of("no-such-folder"), 77, ClipTokenizer.END_TOKEN));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
    }

    private static int tinyVocab(String symbol) {
        try {
            return new ObjectMapper().readTree(TINY.resolve("vocab.json").toFile()).get(symbol).asInt();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int id(String word) {
        int[] ids = tiny.encodeUnpadded(word);
        assertEquals(3, ids.length, word + " should be a single token");
        return ids[1];
    }
}
