package dev.winnow.diffusion;

import dev.winnow.diffusion.scheduler.GaussianNoise;

/**
 * The first noise generator ({@link NoiseGenerator#BOX_MULLER}, every pack that names none):
 * xoshiro256** turned into normals by Box–Muller, three {@code StrictMath} calls per pair, so a
 * seed gives the same image on every JDK and platform, for ever. About ten times slower than
 * {@link ZigguratGaussian}; kept so that the images these packs made stay reproducible. Not
 * thread-safe: one per candidate.
 */
public final class SeededGaussian implements GaussianNoise {

    private final Xoshiro256StarStar random;
    private double spare;
    private boolean hasSpare;

    public SeededGaussian(long seed) {
        random = new Xoshiro256StarStar(seed);
    }

    /** The generator's raw 64-bit draws (xoshiro256**). */
    long nextLong() {
        return random.nextLong();
    }

    public double nextGaussian() {
        if (hasSpare) {
            hasSpare = false;
            return spare;
        }
        double r = Math.sqrt(-2 * StrictMath.log(random.nextUniformOpenZero()));
        double theta = 2 * Math.PI * random.nextUniformOpenZero();
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
