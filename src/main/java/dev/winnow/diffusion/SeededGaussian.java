package dev.winnow.diffusion;

import dev.winnow.diffusion.scheduler.GaussianNoise;

/**
 * A candidate's own normal-noise generator: xoshiro256** seeded through SplitMix64, turned
 * into normals by Box–Muller. Written out here (not {@code java.util.Random}) so a seed gives
 * the same image on every JDK and platform, for ever. Not thread-safe: one per candidate.
 */
public final class SeededGaussian implements GaussianNoise {

    private long s0;
    private long s1;
    private long s2;
    private long s3;
    private double spare;
    private boolean hasSpare;

    public SeededGaussian(long seed) {
        long x = seed;
        s0 = splitMix(x += 0x9E3779B97F4A7C15L);
        s1 = splitMix(x += 0x9E3779B97F4A7C15L);
        s2 = splitMix(x += 0x9E3779B97F4A7C15L);
        s3 = splitMix(x + 0x9E3779B97F4A7C15L);
    }

    private static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** xoshiro256** (Blackman & Vigna 2018). */
    long nextLong() {
        long result = Long.rotateLeft(s1 * 5, 7) * 9;
        long t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = Long.rotateLeft(s3, 45);
        return result;
    }

    /** Uniform in (0, 1]: 53 random bits, never 0 (so the logarithm below is finite). */
    private double nextUniformOpenZero() {
        return ((nextLong() >>> 11) + 1) * 0x1.0p-53;
    }

    public double nextGaussian() {
        if (hasSpare) {
            hasSpare = false;
            return spare;
        }
        double r = Math.sqrt(-2 * StrictMath.log(nextUniformOpenZero()));
        double theta = 2 * Math.PI * nextUniformOpenZero();
        spare = r * StrictMath.sin(theta);
        hasSpare = true;
        return r * StrictMath.cos(theta);
    }

    @Override
    public void fill(float[] out) {
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) nextGaussian();
        }
    }
}
