package dev.winnow.diffusion.scheduler;

/** A source of standard normal noise owned by one candidate (its seed decides everything it draws). */
public interface GaussianNoise {
    /** Fills {@code out} with independent N(0, 1) draws. */
    void fill(float[] out);
}
