package dev.winnow.diffusion;

/**
 * A job's encoded prompts, computed once per job and shared by its candidates.
 *
 * @param cond        L·D text states of the prompt
 * @param uncond      L·D text states of the negative (or empty) prompt
 * @param tokenCount  prompt tokens including start and end
 * @param truncated   whether the prompt ran past the tokenizer's window
 */
public record PromptEmbedding(float[] cond, float[] uncond, int tokenCount, boolean truncated) {
}
