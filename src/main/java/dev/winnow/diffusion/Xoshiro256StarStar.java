package dev.winnow.diffusion;

/**
 * xoshiro256** (Blackman &amp; Vigna, "Scrambled linear pseudorandom number generators", 2018),
 * seeded through SplitMix64 as its authors recommend. Written out here (not
 * {@code java.util.Random} or {@code RandomGenerator}, whose algorithms a JDK may change) so a seed
 * draws the same bits on every JDK and platform. Not thread-safe: one per candidate.
 */
final class Xoshiro256StarStar {

    private long s0;
    private long s1;
    private long s2;
    private long s3;

    Xoshiro256StarStar(long seed) {
        long x = seed;
        s0 = splitMix(x += 0x9E3779B97F4A7C15L);
        s1 = splitMix(x += 0x9E3779B97F4A7C15L);
        s2 = splitMix(x += 0x9E3779B97F4A7C15L);
        s3 = splitMix(x + 0x9E3779B97F4A7C15L);
    }

    /** SplitMix64's output function (Steele, Lea &amp; Flood 2014), as seeding uses it. */
    static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

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

    /** Uniform in (0, 1]: 53 random bits, never 0 (so a logarithm of it is finite). */
    double nextUniformOpenZero() {
        return ((nextLong() >>> 11) + 1) * 0x1.0p-53;
    }
}
