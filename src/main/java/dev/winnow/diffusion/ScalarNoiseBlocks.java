package dev.winnow.diffusion;

/**
 * The definition of {@link VectorBoxMuller}'s values, one lane at a time. Every operation is one
 * that Java specifies exactly (int arithmetic, IEEE float {@code +}, {@code *}, correctly rounded
 * square root, conversions), written without fused multiply-adds, so it gives the same floats on
 * every JDK and platform, and {@code SimdNoiseBlocks} (the same operations, 16 lanes at a time)
 * gives them too.
 *
 * <p>Per lane and block, two 32-bit xoshiro128+ draws a and b (Blackman &amp; Vigna, "Scrambled
 * linear pseudorandom number generators", 2018: their generator for floating-point values; only
 * its upper bits are used, its weaker lowest ones are dropped) make one Box–Muller pair (Box &amp;
 * Muller, "A Note on the Generation of Random Normal Deviates", 1958): radius √(−2 ln u₁) with
 * u₁ = (a's top 24 bits + 1) / 2²⁴ in (0, 1]; angle y uniform in (−π/4, π/4) from b's bits 6–28,
 * then a uniform element of the square's symmetry group from b's top three bits (bit 29 swaps the
 * two outputs, bits 31 and 30 flip their signs), which spreads the quarter circle of y evenly over
 * the whole circle; outputs r·cos y and r·sin y so arranged. The logarithm, sine and cosine are
 * polynomials (below) whose errors are about 1e-7, a float's own precision; u₁ ≥ 2⁻²⁴ bounds |z|
 * by √(48 ln 2) ≈ 5.77 (a normal passes that once in 10⁸ draws).
 */
final class ScalarNoiseBlocks implements NoiseBlocks {

    static final ScalarNoiseBlocks INSTANCE = new ScalarNoiseBlocks();

    // ln(1 + x) = x − x²/2 + x³·P(x) on [√½ − 1, √2 − 1]: P's coefficients, x⁰ first (a weighted
    // least-squares fit at Chebyshev nodes, models/tools/noise_polynomials.py; error 9e-8)
    static final float L0 = 0.33333403f;
    static final float L1 = -0.25001144f;
    static final float L2 = 0.19986297f;
    static final float L3 = -0.16582789f;
    static final float L4 = 0.14644283f;
    static final float L5 = -0.14207722f;
    static final float L6 = 0.09516174f;
    /** ln 2 as a float: e · LN2 (e ≥ −24) is off by at most about 1.5e-6, 1e-7 of the logarithm it is part of. */
    static final float LN2 = 0.6931472f;
    // sin x = x + x³·S(x²), cos x = 1 − x²/2 + x⁴·C(x²) on [−π/4, π/4] (same fit; errors 5e-8, 7e-8)
    static final float S0 = -0.16666664f;
    static final float S1 = 0.008332746f;
    static final float S2 = -0.00019587608f;
    static final float C0 = 0.041666664f;
    static final float C1 = -0.0013888301f;
    static final float C2 = 2.4547766e-05f;
    static final float HALF_PI = 1.5707964f;
    /** The mantissa of √2 as a float (0x3FB504F3): above it, m is halved and its exponent raised. */
    static final int SQRT2_MANTISSA = 0x3504F3;
    static final int SIGN = 0x80000000;

    private ScalarNoiseBlocks() {
    }

    @Override
    public void blocks(int[] state, float[] out, int offset, int count) {
        for (int lane = 0; lane < LANES; lane++) {
            int s0 = state[lane];
            int s1 = state[LANES + lane];
            int s2 = state[2 * LANES + lane];
            int s3 = state[3 * LANES + lane];
            for (int k = 0; k < count; k++) {
                // xoshiro128+, twice
                int a = s0 + s3;
                int t = s1 << 9;
                s2 ^= s0;
                s3 ^= s1;
                s1 ^= s2;
                s0 ^= s3;
                s2 ^= t;
                s3 = Integer.rotateLeft(s3, 11);
                int b = s0 + s3;
                t = s1 << 9;
                s2 ^= s0;
                s3 ^= s1;
                s1 ^= s2;
                s0 ^= s3;
                s2 ^= t;
                s3 = Integer.rotateLeft(s3, 11);

                // ln u1 = e·ln 2 + ln m, m in [√½, √2): the exponent and mantissa from u1's bits
                float u1 = (float) ((a >>> 8) + 1) * 0x1p-24f;
                int bits = Float.floatToRawIntBits(u1);
                int mantissa = bits & 0x7FFFFF;
                int halve = (SQRT2_MANTISSA - mantissa) >>> 31; // 1 when m > √2
                float e = (float) ((bits >>> 23) - 127 + halve);
                float x = Float.intBitsToFloat(mantissa | (0x3F800000 - (halve << 23))) - 1f;
                float z = x * x;
                float p = (((((L6 * x + L5) * x + L4) * x + L3) * x + L2) * x + L1) * x + L0;
                float ln = ((x - z * 0.5f) + (z * x) * p) + e * LN2;
                float r = (float) Math.sqrt(Math.max(0f, ln * -2f));

                // y uniform in (−π/4, π/4), its sine and cosine; then the swap and the two signs,
                // applied to the bits
                float y = ((float) (((b >>> 6) & 0x7FFFFF) * 2 + 1) * 0x1p-24f - 0.5f) * HALF_PI;
                float yy = y * y;
                int sinBits = Float.floatToRawIntBits(y + (yy * y) * ((S2 * yy + S1) * yy + S0));
                int cosBits = Float.floatToRawIntBits((1f - yy * 0.5f) + (yy * yy) * ((C2 * yy + C1) * yy + C0));
                int swap = (b << 2) >> 31; // all ones when bit 29 is set
                float first = Float.intBitsToFloat((cosBits ^ ((cosBits ^ sinBits) & swap)) ^ (b & SIGN));
                float second = Float.intBitsToFloat((sinBits ^ ((sinBits ^ cosBits) & swap)) ^ ((b << 1) & SIGN));

                int at = offset + k * BLOCK + lane;
                out[at] = r * first;
                out[at + LANES] = r * second;
            }
            state[lane] = s0;
            state[LANES + lane] = s1;
            state[2 * LANES + lane] = s2;
            state[3 * LANES + lane] = s3;
        }
    }

    @Override
    public String description() {
        return "scalar";
    }
}
