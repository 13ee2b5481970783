package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The vector generator's values are its scalar definition's, whichever implementation draws them,
 * and that definition is Box–Muller to a float's precision. (NoiseGeneratorTest checks its draws
 * against the normal distribution with the other generators.)
 */
class VectorBoxMullerTest {

    private static boolean vectorModulePresent() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    @Test
    void theTestJvmRunsWithTheVectorModuleAndDrawsWithSimdAsTheCudaImageDoes() {
        // surefire's argLine adds the module, as the CUDA image's launch does; without it every
        // test below that compares the two implementations would be skipped
        assertTrue(vectorModulePresent(), "surefire's argLine lost --add-modules jdk.incubator.vector");
        assertTrue(VectorBoxMuller.implementation().startsWith("SIMD"), VectorBoxMuller.implementation());
        assertFalse(NoiseGenerator.VECTOR_BOX_MULLER.missesItsSimdPath(), "so the startup log does not warn");
    }

    @Test
    void aJvmWithoutTheModuleOrWithoutC2DrawsWithTheScalarDefinitionAndTheSameFloats() throws Exception {
        // the README's C1 launch and a JVM without the module both fall back; the first values match
        String simd = probe("--add-modules", "jdk.incubator.vector");
        String noModule = probe();
        String c1Only = probe("--add-modules", "jdk.incubator.vector", "-XX:TieredStopAtLevel=1");
        assertTrue(simd.startsWith("SIMD"), simd);
        assertTrue(noModule.startsWith("scalar"), noModule);
        assertTrue(c1Only.startsWith("scalar"), c1Only);
        String values = simd.substring(simd.indexOf(' ', simd.indexOf("lanes")));
        assertEquals(values, noModule.substring(noModule.indexOf(' ')));
        assertEquals(values, c1Only.substring(c1Only.indexOf(' ')));
    }

    /** Runs {@link ImplementationProbe} in a fresh JVM with these options; its one line of output. */
    private static String probe(String... jvmOptions) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(jvmOptions));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), ImplementationProbe.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out.lines().filter(l -> !l.startsWith("WARNING")).findFirst().orElse("");
    }

    /** Prints which implementation this JVM chose and the first values of seed 42, whole fills of 4,096. */
    static final class ImplementationProbe {
        public static void main(String[] args) {
            float[] x = new float[4_096];
            new VectorBoxMuller(42).fill(x);
            StringBuilder line = new StringBuilder(VectorBoxMuller.implementation());
            for (int i : new int[] {0, 1, 17, 4_095}) {
                line.append(' ').append(Float.floatToRawIntBits(x[i]));
            }
            System.out.println(line);
        }
    }

    @Test
    void theSimdImplementationGivesTheScalarDefinitionsFloatsBitForBit() {
        assumeTrue(vectorModulePresent());
        NoiseBlocks simd = NoiseBlocks.Fastest.simdOrNull();
        assertNotNull(simd);
        for (long seed : new long[] {0, 1, 42, -1, Long.MIN_VALUE, 0x5DEECE66DL}) {
            for (int n : new int[] {16_384, 1_024, 4 * 64 * 64 * 3, 77}) {
                float[] scalar = draw(new VectorBoxMuller(seed, ScalarNoiseBlocks.INSTANCE), n, 3);
                float[] vector = draw(new VectorBoxMuller(seed, simd), n, 3);
                for (int i = 0; i < scalar.length; i++) {
                    if (Float.floatToRawIntBits(scalar[i]) != Float.floatToRawIntBits(vector[i])) {
                        throw new AssertionError("seed " + seed + ", n " + n + ": value " + i + " is "
                                + scalar[i] + " scalar, " + vector[i] + " SIMD (" + simd.description() + ")");
                    }
                }
            }
        }
    }

    @Test
    void eachValueIsBoxMullerOfItsOwnDrawsToAFloatsPrecision() {
        // xoshiro128+ and the bits-to-uniforms mapping written again here, the transform in doubles
        // with StrictMath: the polynomials may only differ by float rounding
        long seed = 7;
        float[] x = draw(new VectorBoxMuller(seed, ScalarNoiseBlocks.INSTANCE), 32 * 2_000, 1);
        int[][] lanes = seedLanes(seed);
        double worst = 0;
        for (int k = 0; k < 2_000; k++) {
            for (int lane = 0; lane < 16; lane++) {
                int a = next(lanes[lane]);
                int b = next(lanes[lane]);
                double u1 = ((a >>> 8) + 1) / 0x1p24;
                double y = ((((b >>> 6) & 0x7FFFFF) * 2 + 1) / 0x1p24 - 0.5) * Math.PI / 2;
                double r = Math.sqrt(-2 * StrictMath.log(u1));
                boolean swap = (b & (1 << 29)) != 0;
                double first = (swap ? StrictMath.sin(y) : StrictMath.cos(y)) * (b < 0 ? -1 : 1);
                double second = (swap ? StrictMath.cos(y) : StrictMath.sin(y)) * ((b & (1 << 30)) != 0 ? -1 : 1);
                worst = Math.max(worst, Math.abs(x[32 * k + lane] - r * first) / Math.max(1, r));
                worst = Math.max(worst, Math.abs(x[32 * k + 16 + lane] - r * second) / Math.max(1, r));
            }
        }
        assertTrue(worst < 2e-6, "largest error " + worst);
    }

    @Test
    void fillsOfAnyLengthsRunOnAcrossBlocks() {
        float[] whole = draw(new VectorBoxMuller(9), 1_000, 1);
        SplittableRandom cuts = new SplittableRandom(3);
        for (int trial = 0; trial < 50; trial++) {
            VectorBoxMuller g = new VectorBoxMuller(9);
            float[] joined = new float[1_000];
            int at = 0;
            while (at < joined.length) {
                float[] part = new float[Math.min(joined.length - at, cuts.nextInt(0, 70))];
                g.fill(part);
                System.arraycopy(part, 0, joined, at, part.length);
                at += part.length;
            }
            assertArrayEquals(whole, joined, "trial " + trial);
        }
    }

    @Test
    void aPairsTwoValuesAndNeighbouringLanesAreUncorrelatedAndSoAreTheirSquares() {
        // Box–Muller's two outputs share a radius; a wrong swap or sign would couple their signs or sizes
        float[] x = draw(new VectorBoxMuller(21), 32 * 31_250, 1);
        double[] pair = correlations(x, 16);
        double[] neighbour = correlations(x, 1);
        // standard error at n = 500,000 pairs: 0.0014 (values), 0.0014 (squares, normal inputs)
        for (double c : new double[] {pair[0], pair[1], neighbour[0], neighbour[1]}) {
            assertEquals(0, c, 0.008, Arrays.toString(pair) + " " + Arrays.toString(neighbour));
        }
    }

    @Test
    void theTailReachesFourSigmaAsOftenAsTheNormalsAndStopsAtTheRadiusOfTheSmallestUniform() {
        float[] x = draw(new VectorBoxMuller(13), 1_000_000, 1);
        long beyond4 = 0;
        double max = 0;
        for (float v : x) {
            beyond4 += Math.abs(v) > 4 ? 1 : 0;
            max = Math.max(max, Math.abs(v));
        }
        assertEquals(63.3, beyond4, 30); // P(|x| > 4) = 6.33e-5, standard deviation 8
        assertTrue(max <= Math.sqrt(48 * Math.log(2)) + 1e-5, "max " + max);
    }

    @Test
    void theVectorGeneratorsDrawsForASeedArePinned() {
        float[] x = draw(new VectorBoxMuller(42), 32, 1);
        assertArrayEquals(new float[] {-1.0950437f, -0.95406103f, -1.021454f}, new float[] {x[0], x[1], x[2]});
        // positions 16 and 17: the sines of lanes 0 and 1's pairs
        assertArrayEquals(new float[] {-0.95769733f, -0.9117114f}, new float[] {x[16], x[17]});
    }

    /** {@code n} values drawn in {@code fills} fills of about equal length. */
    private static float[] draw(VectorBoxMuller g, int n, int fills) {
        float[] x = new float[n];
        int at = 0;
        for (int f = 0; f < fills; f++) {
            float[] part = new float[(n - at) / (fills - f)];
            g.fill(part);
            System.arraycopy(part, 0, x, at, part.length);
            at += part.length;
        }
        return x;
    }

    private static double[] correlations(float[] x, int lag) {
        double sxy = 0;
        double sqq = 0;
        int n = 0;
        for (int block = 0; block + 31 < x.length; block += 32) {
            for (int lane = 0; lane < 16; lane++) {
                int i = block + lane;
                int j = lag == 16 ? i + 16 : block + (lane + 1) % 16;
                sxy += (double) x[i] * x[j];
                sqq += ((double) x[i] * x[i] - 1) * ((double) x[j] * x[j] - 1);
                n++;
            }
        }
        return new double[] {sxy / n, sqq / n / 2}; // Var(x² − 1) = 2 for a standard normal
    }

    private static int[][] seedLanes(long seed) {
        int[][] lanes = new int[16][4];
        long x = seed;
        for (int lane = 0; lane < 16; lane++) {
            long low = splitMix(x += 0x9E3779B97F4A7C15L);
            long high = splitMix(x += 0x9E3779B97F4A7C15L);
            lanes[lane] = new int[] {(int) low, (int) (low >>> 32), (int) high, (int) (high >>> 32)};
        }
        return lanes;
    }

    private static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** xoshiro128+ (Blackman &amp; Vigna's reference, next() of xoshiro128plus.c). */
    private static int next(int[] s) {
        int result = s[0] + s[3];
        int t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = Integer.rotateLeft(s[3], 11);
        return result;
    }
}
