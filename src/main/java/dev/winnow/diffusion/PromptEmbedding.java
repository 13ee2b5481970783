package dev.winnow.diffusion;

/**
 * A job's encoded prompts, computed once per job and shared by its candidates.
 *
 * @param cond        L·D text states of the prompt
 * @param uncond      L·D text states of the negative (or empty) prompt
 * @param tokenCount  prompt tokens including start and end
 * @param truncated   whether the prompt ran past the tokenizer's window
 * @param condHalf    {@code cond} converted to fp16 once, for an fp16 UNet (else null)
 * @param uncondHalf  {@code uncond} converted to fp16 once, for an fp16 UNet (else null)
 */
public record PromptEmbedding(float[] cond, float[] uncond, int tokenCount, boolean truncated, short[] condHalf,
                              short[] uncondHalf) {

    /** Without fp16 copies (an fp32 UNet). */
    public PromptEmbedding(float[] cond, float[] uncond, int tokenCount, boolean truncated) {
        this(cond, uncond, tokenCount, truncated, null, null);
    }
}
