package dev.winnow.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
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
    static final Path TINY = Path.of("models", "tiny-shapes", "tokenizer");

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
    void unicodeTextStillTokenizesIntoBytesOfTheVocabulary() {
        int[] ids = tiny.encodeUnpadded("rouge cœur 🙂 日本");
        assertTrue(ids.length > 4);
        assertTrue(Arrays.stream(ids).allMatch(i -> i >= 0 && i < tiny.vocabSize()));
        if (clip != null) {
            // The same text through the real vocabulary, checked piecewise against CLIP's byte fallback.
            assertEquals(clip.startId(), clip.encodeUnpadded("🙂")[0]);
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

    private static int id(String word) {
        int[] ids = tiny.encodeUnpadded(word);
        assertEquals(3, ids.length, word + " should be a single token");
        return ids[1];
    }
}
