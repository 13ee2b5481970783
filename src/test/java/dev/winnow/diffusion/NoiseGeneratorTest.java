package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.scheduler.GaussianNoise;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Both noise generators draw standard normals, and each seed's draws are pinned: a change to
 * either generator changes every image its packs make, so these values may never move.
 */
class NoiseGeneratorTest {

    private static final int SAMPLES = 1_000_000;

    @ParameterizedTest
    @EnumSource(NoiseGenerator.class)
    void samplesPassAKolmogorovSmirnovTestAgainstTheStandardNormal(NoiseGenerator generator) {
        float[] x = draw(generator, 11, SAMPLES);
        Arrays.sort(x);
        double d = 0;
        for (int i = 0; i < x.length; i++) {
            double cdf = normalCdf(x[i]);
            d = Math.max(d, Math.max(cdf - (double) i / x.length, (double) (i + 1) / x.length - cdf));
        }
        // the critical value at the 1% level is 1.628 / sqrt(n)
        assertTrue(d < 1.628 / Math.sqrt(SAMPLES), generator + ": KS statistic " + d);
    }

    @ParameterizedTest
    @EnumSource(NoiseGenerator.class)
    void samplesHaveTheNormalsMeanVarianceSkewAndKurtosis(NoiseGenerator generator) {
        float[] x = draw(generator, 12, SAMPLES);
        double m1 = 0;
        double m2 = 0;
        double m3 = 0;
        double m4 = 0;
        for (float v : x) {
            m1 += v;
            m2 += (double) v * v;
            m3 += (double) v * v * v;
            m4 += (double) v * v * v * v;
        }
        int n = x.length;
        // standard errors at n = 10^6: mean 0.001, variance 0.0014, skew 0.0024, kurtosis 0.0049
        assertEquals(0, m1 / n, 0.005, generator + ": mean");
        assertEquals(1, m2 / n, 0.007, generator + ": variance");
        assertEquals(0, m3 / n, 0.012, generator + ": third moment");
        assertEquals(3, m4 / n, 0.03, generator + ": fourth moment");
    }

    @Test
    void theZigguratsTailBeyondItsLastLayerHasTheNormalsWeight() {
        // P(|x| > 3.4426) = 5.76e-4: about 576 of 10^6, standard deviation 24; the tail is its own code path
        float[] x = draw(NoiseGenerator.ZIGGURAT, 13, SAMPLES);
        long beyond = 0;
        long farBeyond = 0;
        for (float v : x) {
            beyond += Math.abs(v) > 3.442619855899 ? 1 : 0;
            farBeyond += Math.abs(v) > 4.5 ? 1 : 0;
        }
        assertEquals(576, beyond, 100);
        assertEquals(6.8, farBeyond, 9); // P(|x| > 4.5) = 6.8e-6: the tail reaches past the last layer
    }

    @ParameterizedTest
    @EnumSource(NoiseGenerator.class)
    void fillsRunOnSoTwoFillsGiveWhatOneFillOfBothLengthsGives(NoiseGenerator generator) {
        float[] whole = draw(generator, 5, 16);
        for (int split = 0; split <= 16; split++) {
            GaussianNoise g = generator.create(5);
            float[] a = new float[split];
            float[] b = new float[16 - split];
            g.fill(a);
            g.fill(b);
            float[] joined = Arrays.copyOf(a, 16);
            System.arraycopy(b, 0, joined, split, b.length);
            assertArrayEquals(whole, joined, generator + " split at " + split);
        }
    }

    @ParameterizedTest
    @EnumSource(NoiseGenerator.class)
    void theSameSeedDrawsTheSameNoiseAndAnotherSeedOther(NoiseGenerator generator) {
        assertArrayEquals(draw(generator, 42, 4096), draw(generator, 42, 4096));
        assertFalse(Arrays.equals(draw(generator, 42, 4096), draw(generator, 43, 4096)));
    }

    @Test
    void boxMullersDrawsForASeedAreTheOnesEveryOlderImageWasMadeWith() {
        assertArrayEquals(new float[] {-1.6132238f, 1.5344874f, 0.781692f, -0.40019348f, 0.015871294f, -0.12730993f}, draw(NoiseGenerator.BOX_MULLER, 42, 6));
    }

    @Test
    void theZigguratsDrawsForASeedArePinned() {
        assertArrayEquals(new float[] {0.212692f, 0.30023733f, 0.30919847f, 2.1398175f, 0.0580007f, -0.2166833f}, draw(NoiseGenerator.ZIGGURAT, 42, 6));
    }

    @Test
    void aPackThatNamesNoGeneratorKeepsBoxMullerAndAnUnknownNameIsRefusedWithTheKnownOnes() {
        assertSame(NoiseGenerator.BOX_MULLER, NoiseGenerator.named(null));
        assertSame(NoiseGenerator.ZIGGURAT, NoiseGenerator.named("ziggurat"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NoiseGenerator.named("mersenne"));
        assertTrue(e.getMessage().contains("mersenne") && e.getMessage().contains("box-muller, ziggurat"), e.getMessage());
    }

    private static float[] draw(NoiseGenerator generator, long seed, int n) {
        float[] x = new float[n];
        generator.create(seed).fill(x);
        return x;
    }

    /** Φ(x) through erfc (W. J. Cody's rational approximation as in Numerical Recipes' erfcc: |error| < 1.2e-7). */
    private static double normalCdf(double x) {
        double z = Math.abs(x) / Math.sqrt(2);
        double t = 1 / (1 + 0.5 * z);
        double erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - erfc / 2 : erfc / 2;
    }
}
