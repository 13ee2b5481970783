package dev.winnow.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer, reading the Hugging Face files that Stable Diffusion
 * exports carry ({@code tokenizer/vocab.json} and {@code tokenizer/merges.txt}).
 *
 * <p>The reference it matches is OpenAI CLIP's {@code simple_tokenizer.py} with ftfy installed,
 * the tokenizer Stable Diffusion's text encoders were trained with: the text is cleaned as
 * {@link ClipTextCleaner} describes (ftfy's {@code fix_text}, HTML unescaped twice, whitespace
 * collapsed, lower-cased), split by CLIP's pre-tokenisation pattern, in which the literal
 * special tokens {@code <|startoftext|>} and {@code <|endoftext|>} are single tokens; every
 * other piece is mapped byte by byte to printable characters, marked {@code </w>} at its end
 * and merged by rank. Start and end tokens go around at most {@code maxLength - 2} ids.
 * (Hugging Face's {@code CLIPTokenizer} agrees except where HTML entities survive ftfy: it
 * does not unescape them again.)
 *
 * <p>Thread-safe: the vocabulary is immutable and the word cache is concurrent.
 */
public final class ClipTokenizer {

    public static final String START_TOKEN = "<|startoftext|>";
    public static final String END_TOKEN = "<|endoftext|>";

    /** CLIP's pre-tokenisation pattern; {@code UNICODE_CHARACTER_CLASS} makes {@code \s} Unicode-aware as in Python. */
    private static final Pattern PRE_TOKENS = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CHARACTER_CLASS);
    private static final int CACHE_LIMIT = 50_000;
    private static final String[] BYTE_TO_CHAR = byteToUnicode();

    private final Map<String, Integer> vocab;
    private final Map<String, Integer> mergeRanks;
    private final int maxLength;
    private final int startId;
    private final int endId;
    private final int padId;
    private final Map<String, List<String>> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> vocab, Map<String, Integer> mergeRanks, int maxLength, String padToken) {
        this.vocab = Map.copyOf(vocab);
        this.mergeRanks = Map.copyOf(mergeRanks);
        this.maxLength = maxLength;
        this.startId = requireToken(START_TOKEN);
        this.endId = requireToken(END_TOKEN);
        this.padId = requireToken(padToken);
    }

    /**
     * Loads a tokenizer folder: {@code vocab.json} and {@code merges.txt} (what SD checkpoints
     * carry and transformers 4.x writes), or else {@code tokenizer.json} (the fast tokenizer's
     * one file, all that transformers 5 writes when an exporter saves the tokenizer).
     *
     * @param padToken {@code <|endoftext|>} for SD 1.x, {@code !} for SD 2.x
     * @throws TokenizerLoadException naming the file and what is wrong with it
     */
    public static ClipTokenizer load(Path folder, int maxLength, String padToken) {
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength must leave room for start and end tokens, got " + maxLength);
        }
        Path vocabFile = folder.resolve("vocab.json");
        Path tokenizerJson = folder.resolve("tokenizer.json");
        boolean separateFiles = Files.isRegularFile(vocabFile) || !Files.isRegularFile(tokenizerJson);
        Path source = separateFiles ? vocabFile : tokenizerJson;
        Map<String, Integer> vocab = new HashMap<>();
        Map<String, Integer> ranks = new HashMap<>();
        if (separateFiles) {
            readVocabAndMerges(vocabFile, folder.resolve("merges.txt"), vocab, ranks);
        } else {
            readTokenizerJson(tokenizerJson, vocab, ranks);
        }
        try {
            return new ClipTokenizer(vocab, ranks, maxLength, padToken);
        } catch (IllegalStateException e) {
            throw new TokenizerLoadException(source + ": " + e.getMessage(), e);
        }
    }

    private static void readVocabAndMerges(Path vocabFile, Path mergesFile, Map<String, Integer> vocab,
            Map<String, Integer> ranks) {
        try {
            vocab.putAll(new ObjectMapper().readValue(vocabFile.toFile(), new TypeReference<Map<String, Integer>>() { }));
        } catch (IOException e) {
            throw new TokenizerLoadException(vocabFile + ": cannot read a token→id JSON object: " + e.getMessage(), e);
        }
        try {
            List<String> lines = Files.readAllLines(mergesFile, StandardCharsets.UTF_8);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.isBlank() || (i == 0 && line.startsWith("#version"))) {
                    continue;
                }
                addMerge(ranks, line, mergesFile + " line " + (i + 1));
            }
        } catch (IOException e) {
            throw new TokenizerLoadException(mergesFile + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * Hugging Face tokenizers' JSON: {@code model.vocab} (token→id) and {@code model.merges}, in
     * order of rank, as "a b" strings (tokenizers before 0.20) or as ["a", "b"] pairs (after).
     */
    private static void readTokenizerJson(Path file, Map<String, Integer> vocab, Map<String, Integer> ranks) {
        JsonNode model;
        try {
            model = new ObjectMapper().readTree(file.toFile()).path("model");
        } catch (IOException e) {
            throw new TokenizerLoadException(file + ": cannot read JSON: " + e.getMessage(), e);
        }
        if (!"BPE".equals(model.path("type").asText()) || !model.path("vocab").isObject() || !model.path("merges").isArray()) {
            throw new TokenizerLoadException(file + ": expected a BPE model with 'vocab' and 'merges' (CLIP's tokenizer), got type '"
                    + model.path("type").asText() + "'");
        }
        model.path("vocab").fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        JsonNode merges = model.path("merges");
        for (int i = 0; i < merges.size(); i++) {
            JsonNode merge = merges.get(i);
            String line = merge.isArray() && merge.size() == 2 ? merge.get(0).asText() + " " + merge.get(1).asText() : merge.asText();
            addMerge(ranks, line, file + " model.merges[" + i + "]");
        }
    }

    private static void addMerge(Map<String, Integer> ranks, String line, String where) {
        String[] pair = line.split(" ");
        if (pair.length != 2) {
            throw new TokenizerLoadException(where + ": expected two symbols, got '" + line + "'");
        }
        ranks.putIfAbsent(pair[0] + " " + pair[1], ranks.size());
    }

    public int maxLength() {
        return maxLength;
    }

    public int vocabSize() {
        return vocab.size();
    }

    public int startId() {
        return startId;
    }

    public int endId() {
        return endId;
    }

    public int padId() {
        return padId;
    }

    /**
     * Tokenizes a prompt for the text encoder: start token, BPE ids, end token, padded with
     * the pad token to {@link #maxLength()}.
     */
    public Tokens tokenize(String text) {
        int[] unpadded = encodeFull(text);
        boolean truncated = unpadded.length > maxLength;
        int[] kept = truncated ? truncate(unpadded) : unpadded;
        int[] padded = Arrays.copyOf(kept, maxLength);
        Arrays.fill(padded, kept.length, maxLength, padId);
        return new Tokens(padded, kept.length, truncated, unpadded.length);
    }

    /** Start token, BPE ids, end token; truncated to {@link #maxLength()} with the end token kept last. */
    public int[] encodeUnpadded(String text) {
        int[] full = encodeFull(text);
        return full.length > maxLength ? truncate(full) : full;
    }

    private int[] truncate(int[] full) {
        int[] kept = Arrays.copyOf(full, maxLength);
        kept[maxLength - 1] = endId;
        return kept;
    }

    private int[] encodeFull(String text) {
        List<Integer> ids = new ArrayList<>();
        ids.add(startId);
        Matcher m = PRE_TOKENS.matcher(clean(text));
        while (m.find()) {
            String token = m.group();
            // typed literally, the special tokens are single tokens, as in the reference (its BPE cache holds them)
            if (token.equals(START_TOKEN) || token.equals(END_TOKEN)) {
                ids.add(token.equals(START_TOKEN) ? startId : endId);
                continue;
            }
            for (String piece : bpe(toByteChars(token))) {
                Integer id = vocab.get(piece);
                if (id != null) {
                    ids.add(id);
                } else {
                    // A merge whose result is missing from vocab.json: fall back to its symbols.
                    piece.codePoints().forEach(cp -> ids.add(vocab.getOrDefault(Character.toString(cp), endId)));
                }
            }
        }
        ids.add(endId);
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The text CLIP's pre-tokenisation pattern runs on (see {@link ClipTextCleaner}). */
    static String clean(String text) {
        return ClipTextCleaner.clean(text);
    }

    private static String toByteChars(String token) {
        StringBuilder sb = new StringBuilder();
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            sb.append(BYTE_TO_CHAR[b & 0xff]);
        }
        return sb.toString();
    }

    private List<String> bpe(String token) {
        List<String> cached = cache.get(token);
        if (cached != null) {
            return cached;
        }
        List<String> word = new ArrayList<>();
        int[] cps = token.codePoints().toArray();
        for (int i = 0; i < cps.length; i++) {
            String symbol = Character.toString(cps[i]);
            word.add(i == cps.length - 1 ? symbol + "</w>" : symbol);
        }
        while (word.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String bestFirst = null;
            String bestSecond = null;
            for (int i = 0; i < word.size() - 1; i++) {
                Integer rank = mergeRanks.get(word.get(i) + " " + word.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    bestFirst = word.get(i);
                    bestSecond = word.get(i + 1);
                }
            }
            if (bestFirst == null) {
                break;
            }
            List<String> merged = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); i++) {
                if (i < word.size() - 1 && word.get(i).equals(bestFirst) && word.get(i + 1).equals(bestSecond)) {
                    merged.add(bestFirst + bestSecond);
                    i++;
                } else {
                    merged.add(word.get(i));
                }
            }
            word = merged;
        }
        List<String> result = List.copyOf(word);
        if (cache.size() < CACHE_LIMIT) {
            cache.put(token, result);
        }
        return result;
    }

    private int requireToken(String token) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalStateException("the vocabulary has no '" + token + "' token");
        }
        return id;
    }

    /** GPT-2/CLIP's reversible map from the 256 byte values to printable characters. */
    private static String[] byteToUnicode() {
        String[] map = new String[256];
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = Character.toString(printable ? b : 256 + extra++);
        }
        return map;
    }
}
