package dev.winnow.tokenizer;

/**
 * A prompt's token ids for the text encoder.
 *
 * @param inputIds  exactly {@code maxLength} ids: start, BPE ids, end, then padding
 * @param tokenCount how many ids carry the prompt (start and end tokens included, padding excluded)
 * @param truncated whether the prompt ran past the window and lost its tail
 * @param promptLength how many ids the whole prompt needs, start and end tokens included (more than
 *                     {@code maxLength} exactly when {@code truncated})
 */
public record Tokens(int[] inputIds, int tokenCount, boolean truncated, int promptLength) {
}
