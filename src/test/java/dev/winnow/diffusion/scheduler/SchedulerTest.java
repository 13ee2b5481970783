package dev.winnow.diffusion.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.diffusion.SeededGaussian;
import java.io.IOException;
import java.io.InputStream;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SchedulerTest {

    static final SchedulerConfig SD = SchedulerConfig.stableDiffusion();
    static JsonNode reference;

    @BeforeAll
    static void readDiffusersReference() throws IOException {
        try (InputStream in = SchedulerTest.class.getResourceAsStream("/schedulers/diffusers_reference.json")) {
            reference = new ObjectMapper().readTree(in);
        }
    }

    static NoiseSchedule schedule(String spacing) {
        return new NoiseSchedule(SD.withSpacing(spacing));
    }

    static double[] ref(String table, String key) {
        JsonNode n = reference.get(table).get(key);
        double[] out = new double[n.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = n.get(i).asDouble();
        }
        return out;
    }

    @ParameterizedTest(name = "{0} timesteps for {1} spacing equal diffusers' at 1, 4, 20 and 50 steps")
    @CsvSource({
        "ddim, linspace, ddim", "ddim, leading, ddim", "ddim, trailing, ddim",
        "euler, linspace, euler", "euler, leading, euler", "euler, trailing, euler",
        "euler_a, linspace, euler", "euler_a, leading, euler", "euler_a, trailing, euler",
        "dpmpp_2m, linspace, dpm", "dpmpp_2m, leading, dpm", "dpmpp_2m, trailing, dpm"})
    void timestepsEqualDiffusers(String scheduler, String spacing, String table) {
        for (int steps : new int[] {1, 4, 20, 50}) {
            Scheduler s = Schedulers.create(scheduler, schedule(spacing), steps);
            assertArrayEquals(ref(table, spacing + "/" + steps), s.timesteps(), 1e-3, scheduler + " " + spacing + " " + steps);
        }
    }

    @ParameterizedTest(name = "LCM timesteps equal diffusers' at {0} steps")
    @ValueSource(ints = {1, 4, 20, 50})
    void lcmTimestepsEqualDiffusers(int steps) {
        assertArrayEquals(ref("lcm", String.valueOf(steps)), Schedulers.create("lcm", schedule("leading"), steps).timesteps());
    }

    @ParameterizedTest(name = "Euler and DPM++ sigmas equal diffusers' for {0} spacing")
    @ValueSource(strings = {"linspace", "leading", "trailing"})
    void sigmasEqualDiffusers(String spacing) {
        for (int steps : new int[] {1, 4, 20, 50}) {
            String key = spacing + "/" + steps;
            EulerDiscreteScheduler euler = new EulerDiscreteScheduler(schedule(spacing));
            euler.setTimesteps(steps);
            assertClose(ref("euler_sigmas", key), euler.sigmas(), key);
        }
        for (int steps : new int[] {1, 4, 20, 50}) {
            String key = spacing + "/" + steps;
            DpmSolverMultistepScheduler dpm = new DpmSolverMultistepScheduler(schedule(spacing));
            dpm.setTimesteps(steps);
            assertClose(ref("dpm_sigmas", key), dpm.sigmas(), key);
        }
    }

    private static void assertClose(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-4 * Math.max(1, Math.abs(expected[i])), what + " [" + i + "]");
        }
    }

    @Test
    void eulerStartsFromTheLargestSigmaWithLeadingSpacingsUnitVarianceCorrection() {
        Scheduler leading = Schedulers.create("euler", schedule("leading"), 20);
        Scheduler trailing = Schedulers.create("euler", schedule("trailing"), 20);
        double maxLeading = ref("euler_sigmas", "leading/20")[0];
        assertEquals(Math.sqrt(maxLeading * maxLeading + 1), leading.initNoiseSigma(), 1e-4);
        assertEquals(ref("euler_sigmas", "trailing/20")[0], trailing.initNoiseSigma(), 1e-4);
    }

    @Test
    void ddimWithEtaZeroAndTheTrueNoiseRecoversTheCleanSample() {
        NoiseSchedule sched = new NoiseSchedule(new SchedulerConfig(1000, 0.00085, 0.012, "scaled_linear", "epsilon",
                "leading", 1, true));
        float[] x0 = cleanSample();
        float[] result = runWithOracle(Schedulers.create("ddim", sched, 20), sched, x0, alphaOracle(sched));
        assertArrayEquals(x0, result, 1e-4f);
    }

    @Test
    void ddimRecoversTheCleanSampleFromAVPredictionOracle() {
        NoiseSchedule sched = new NoiseSchedule(new SchedulerConfig(1000, 0.00085, 0.012, "scaled_linear",
                "v_prediction", "leading", 1, true));
        float[] x0 = cleanSample();
        float[] result = runWithOracle(Schedulers.create("ddim", sched, 10), sched, x0, alphaOracle(sched));
        assertArrayEquals(x0, result, 1e-4f);
    }

    @ParameterizedTest(name = "{0} with the true noise ends at the clean sample")
    @ValueSource(strings = {"euler", "euler_a", "dpmpp_2m", "lcm"})
    void everySolverWithAnOracleModelEndsAtTheCleanSample(String name) {
        NoiseSchedule sched = schedule("leading");
        float[] x0 = cleanSample();
        Scheduler s = Schedulers.create(name, sched, name.equals("lcm") ? 4 : 20);
        ToDoubleFunction<Scheduler> alpha = s instanceof EulerDiscreteScheduler || s instanceof EulerAncestralScheduler
                ? sigmaOracle() : alphaOracle(sched);
        assertArrayEquals(x0, runWithOracle(s, sched, x0, alpha), 2e-3f, name);
    }

    @Test
    void lcmBoundaryConditionIsTheIdentityAtTimeZero() {
        assertEquals(1.0, LcmScheduler.cSkip(0), 0);
        assertEquals(0.0, LcmScheduler.cOut(0), 0);
        assertEquals(0.0, LcmScheduler.cSkip(999), 1e-7);
        assertEquals(1.0, LcmScheduler.cOut(999), 1e-7);
        // c_skip falls and c_out rises monotonically in t
        for (int t = 1; t < 1000; t++) {
            assertTrue(LcmScheduler.cSkip(t) < LcmScheduler.cSkip(t - 1));
            assertTrue(LcmScheduler.cOut(t) > LcmScheduler.cOut(t - 1));
        }
    }

    @Test
    void tooManyStepsAreRefusedAsDiffusersDoes() {
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("ddim", schedule("leading"), 1001));
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("lcm", schedule("leading"), 51));
        assertThrows(IllegalArgumentException.class, () -> Schedulers.create("karras", schedule("leading"), 4));
    }

    @Test
    void theSameSeedGivesTheSameNoiseAndDifferentSeedsDiffer() {
        float[] a = new float[256];
        float[] b = new float[256];
        float[] c = new float[256];
        new SeededGaussian(42).fill(a);
        new SeededGaussian(42).fill(b);
        new SeededGaussian(43).fill(c);
        assertArrayEquals(a, b);
        assertTrue(!java.util.Arrays.equals(a, c));
    }

    @Test
    void seededNoiseIsStandardNormal() {
        SeededGaussian g = new SeededGaussian(7);
        int n = 200_000;
        double sum = 0;
        double sq = 0;
        for (int i = 0; i < n; i++) {
            double v = g.nextGaussian();
            sum += v;
            sq += v * v;
        }
        assertEquals(0, sum / n, 0.01);
        assertEquals(1, sq / n, 0.01);
    }

    /** A fixed "clean latent". */
    private static float[] cleanSample() {
        float[] x0 = new float[64];
        for (int i = 0; i < x0.length; i++) {
            x0[i] = (float) Math.sin(i * 0.37) * 0.8f;
        }
        return x0;
    }

    /** For schedulers in the alpha form x = sqrt(ᾱ)x0 + sqrt(1-ᾱ)ε: ᾱ at the current timestep. */
    private static ToDoubleFunction<Scheduler> alphaOracle(NoiseSchedule sched) {
        return s -> sched.alphaCumprod((int) s.currentTimestep());
    }

    /** For the Euler family (x = x0 + σε): marks the sigma form with a negative value. */
    private static ToDoubleFunction<Scheduler> sigmaOracle() {
        return s -> -1;
    }

    /**
     * Runs a scheduler from noise with a model that knows x0 and answers the exact ε (or v)
     * for the sample it is given.
     */
    private static float[] runWithOracle(Scheduler s, NoiseSchedule sched, float[] x0, ToDoubleFunction<Scheduler> alphaOf) {
        float[] noise = new float[x0.length];
        new SeededGaussian(1).fill(noise);
        SeededGaussian stepNoise = new SeededGaussian(2);
        boolean sigmaForm = alphaOf.applyAsDouble(s) < 0;
        float[] x = new float[x0.length];
        double start = sigmaForm ? sigmaOf(s) : sched.alphaCumprod((int) s.currentTimestep());
        for (int i = 0; i < x.length; i++) {
            x[i] = sigmaForm ? (float) (x0[i] + start * noise[i])
                    : (float) (Math.sqrt(start) * x0[i] + Math.sqrt(1 - start) * noise[i]);
        }
        String type = sched.config().predictionType();
        while (!s.isDone()) {
            float[] out = new float[x.length];
            if (sigmaForm) {
                double sigma = sigmaOf(s);
                for (int i = 0; i < x.length; i++) {
                    out[i] = (float) ((x[i] - x0[i]) / sigma);
                }
            } else {
                double a = alphaOf.applyAsDouble(s);
                for (int i = 0; i < x.length; i++) {
                    double eps = (x[i] - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a);
                    out[i] = "v_prediction".equals(type)
                            ? (float) (Math.sqrt(a) * eps - Math.sqrt(1 - a) * x0[i]) : (float) eps;
                }
            }
            x = s.step(out, x, stepNoise).prevSample();
        }
        return x;
    }

    private static double sigmaOf(Scheduler s) {
        double[] sigmas = s instanceof EulerDiscreteScheduler e ? e.sigmas()
                : ((EulerAncestralScheduler) s).sigmas();
        return sigmas[s.stepIndex()];
    }
}
