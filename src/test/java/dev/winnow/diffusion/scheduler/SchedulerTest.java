package dev.winnow.diffusion.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.winnow.diffusion.SeededGaussian;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SchedulerTest {

    static JsonNode reference;

    @BeforeAll
    static void readDiffusersReference() throws IOException {
        try (InputStream in = SchedulerTest.class.getResourceAsStream("/schedulers/diffusers_reference.json")) {
            reference = new ObjectMapper().readTree(in);
        }
    }

    /** Stable Diffusion's schedule with the given spacing, as one algorithm resolves it. */
    static NoiseSchedule schedule(String scheduler, String spacing) {
        return schedule(scheduler, SchedulerConfig.stableDiffusionJson().put("timestep_spacing", spacing));
    }

    static NoiseSchedule schedule(String scheduler, ObjectNode config) {
        return new Schedulers(SchedulerConfig.of(config)).schedule(scheduler);
    }

    static Scheduler create(String scheduler, String spacing, int steps) {
        return Schedulers.create(scheduler, schedule(scheduler, spacing), steps);
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
            Scheduler s = create(scheduler, spacing, steps);
            assertArrayEquals(ref(table, spacing + "/" + steps), s.timesteps(), 1e-3, scheduler + " " + spacing + " " + steps);
        }
    }

    @ParameterizedTest(name = "LCM timesteps equal diffusers' at {0} steps")
    @ValueSource(ints = {1, 4, 20, 50})
    void lcmTimestepsEqualDiffusers(int steps) {
        assertArrayEquals(ref("lcm", String.valueOf(steps)), create("lcm", "leading", steps).timesteps());
    }

    @ParameterizedTest(name = "Euler and DPM++ sigmas equal diffusers' for {0} spacing")
    @ValueSource(strings = {"linspace", "leading", "trailing"})
    void sigmasEqualDiffusers(String spacing) {
        for (int steps : new int[] {1, 4, 20, 50}) {
            String key = spacing + "/" + steps;
            assertClose(ref("euler_sigmas", key), create("euler", spacing, steps).sigmas(), key);
        }
        for (int steps : new int[] {1, 4, 20, 50}) {
            String key = spacing + "/" + steps;
            assertClose(ref("dpm_sigmas", key), create("dpmpp_2m", spacing, steps).sigmas(), key);
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
        Scheduler leading = create("euler", "leading", 20);
        Scheduler trailing = create("euler", "trailing", 20);
        double maxLeading = ref("euler_sigmas", "leading/20")[0];
        assertEquals(Math.sqrt(maxLeading * maxLeading + 1), leading.initNoiseSigma(), 1e-4);
        assertEquals(ref("euler_sigmas", "trailing/20")[0], trailing.initNoiseSigma(), 1e-4);
    }

    @Test
    void ddimWithEtaZeroAndTheTrueNoiseRecoversTheCleanSample() {
        NoiseSchedule sched = schedule("ddim", SchedulerConfig.stableDiffusionJson().put("set_alpha_to_one", true));
        float[] x0 = cleanSample();
        float[] result = runWithOracle(Schedulers.create("ddim", sched, 20), sched, x0, alphaOracle(sched));
        assertArrayEquals(x0, result, 1e-4f);
    }

    @Test
    void ddimRecoversTheCleanSampleFromAVPredictionOracle() {
        NoiseSchedule sched = schedule("ddim", SchedulerConfig.stableDiffusionJson().put("set_alpha_to_one", true)
                .put("prediction_type", "v_prediction"));
        float[] x0 = cleanSample();
        float[] result = runWithOracle(Schedulers.create("ddim", sched, 10), sched, x0, alphaOracle(sched));
        assertArrayEquals(x0, result, 1e-4f);
    }

    @ParameterizedTest(name = "{0} with the true noise ends at the clean sample")
    @ValueSource(strings = {"euler", "euler_a", "dpmpp_2m", "lcm"})
    void everySolverWithAnOracleModelEndsAtTheCleanSample(String name) {
        NoiseSchedule sched = schedule(name, "leading");
        float[] x0 = cleanSample();
        Scheduler s = Schedulers.create(name, sched, name.equals("lcm") ? 4 : 20);
        ToDoubleFunction<Scheduler> alpha = s instanceof EulerDiscreteScheduler || s instanceof EulerAncestralScheduler
                ? sigmaOracle() : alphaOracle(sched);
        assertArrayEquals(x0, runWithOracle(s, sched, x0, alpha), 2e-3f, name);
    }

    @Test
    void lcmBoundaryConditionIsTheIdentityAtTimeZero() {
        assertEquals(1.0, LcmScheduler.cSkip(0, 10), 0);
        assertEquals(0.0, LcmScheduler.cOut(0, 10), 0);
        assertEquals(0.0, LcmScheduler.cSkip(999, 10), 1e-7);
        assertEquals(1.0, LcmScheduler.cOut(999, 10), 1e-7);
        // c_skip falls and c_out rises monotonically in t
        for (int t = 1; t < 1000; t++) {
            assertTrue(LcmScheduler.cSkip(t, 10) < LcmScheduler.cSkip(t - 1, 10));
            assertTrue(LcmScheduler.cOut(t, 10) > LcmScheduler.cOut(t - 1, 10));
        }
    }

    @Test
    void tooManyStepsAreRefusedAsDiffusersDoes() {
        assertThrows(IllegalArgumentException.class, () -> create("ddim", "leading", 1001));
        assertThrows(IllegalArgumentException.class, () -> create("lcm", "leading", 51));
        assertThrows(IllegalArgumentException.class, () -> new Schedulers(SchedulerConfig.stableDiffusion()).create("karras", 4));
    }

    /** SD 1.5's scheduler_config.json as older exports ship it: PNDM, no timestep_spacing key. */
    static ObjectNode sd15WithoutSpacing() {
        ObjectNode n = SchedulerConfig.stableDiffusionJson();
        n.remove("timestep_spacing");
        n.remove("prediction_type");
        n.put("_class_name", "PNDMScheduler").put("skip_prk_steps", true).putNull("trained_betas");
        return n;
    }

    @ParameterizedTest(name = "without timestep_spacing, {0} spaces its timesteps as diffusers' class does ({1})")
    @CsvSource({"ddim, leading", "euler, linspace", "euler_a, linspace", "dpmpp_2m, linspace", "lcm, leading"})
    void aConfigWithoutTimestepSpacingGivesEachSchedulerItsOwnDefault(String scheduler, String expected) {
        SchedulerSettings settings = SchedulerConfig.of(sd15WithoutSpacing()).settings(scheduler);
        assertEquals(expected, settings.timestepSpacing());
        double[] spaced = create(scheduler, expected, 20).timesteps();
        assertArrayEquals(spaced, Schedulers.create(scheduler, schedule(scheduler, sd15WithoutSpacing()), 20).timesteps());
    }

    @Test
    void eachSchedulerTakesDiffusersClassDefaultsForKeysTheConfigLeavesOut() {
        SchedulerConfig empty = SchedulerConfig.of(new ObjectMapper().createObjectNode());
        // DDPM's schedule for DDIM and the Euler family, Stable Diffusion's for LCM
        assertEquals("linear", empty.settings("ddim").betaSchedule());
        assertEquals(0.0001, empty.settings("euler").betaStart());
        assertEquals("scaled_linear", empty.settings("lcm").betaSchedule());
        assertEquals(0.00085, empty.settings("lcm").betaStart());
        // DDIM clips x̂_0 and sets ᾱ to one past the end unless told otherwise; LCM does not clip
        assertTrue(empty.settings("ddim").clipSample());
        assertTrue(empty.settings("ddim").setAlphaToOne());
        assertFalse(empty.settings("lcm").clipSample());
        assertEquals(0, empty.settings("euler_a").stepsOffset());
        assertEquals(50, empty.settings("lcm").originalInferenceSteps());
    }

    @ParameterizedTest(name = "{0} is refused, naming the key")
    @ValueSource(strings = {
        "{\"rescale_betas_zero_snr\": true}",
        "{\"trained_betas\": [0.1, 0.2]}",
        "{\"timestep_type\": \"continuous\"}",
        "{\"thresholding\": true}",
        "{\"clip_sample_range\": 0}",
        "{\"interpolation_type\": \"log_linear\"}",
        "{\"use_exponential_sigmas\": true}",
        "{\"use_beta_sigmas\": true}",
        "{\"algorithm_type\": \"sde-dpmsolver++\"}",
        "{\"solver_order\": 3}",
        "{\"use_lu_lambdas\": true}",
        "{\"variance_type\": \"learned_range\"}",
        "{\"final_sigmas_type\": \"denoise_to_zero\"}",
        "{\"timestep_spacing\": \"karras\"}",
        "{\"prediction_type\": \"flow_prediction\"}",
        "{\"steps_offset\": \"one\"}"})
    void aKeyWithAValueWinnowDoesNotImplementIsRefused(String json) throws IOException {
        ObjectNode config = SchedulerConfig.stableDiffusionJson();
        config.setAll((ObjectNode) new ObjectMapper().readTree(json));
        String key = new ObjectMapper().readTree(json).fieldNames().next();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.of(config));
        assertTrue(e.getMessage().contains("'" + key + "'") && e.getMessage().contains("supported"), e.getMessage());
    }

    @Test
    void theHarmlessValuesRealExportsCarryStillLoad() throws IOException {
        ObjectNode config = SchedulerConfig.stableDiffusionJson();
        config.setAll((ObjectNode) new ObjectMapper().readTree("""
                {"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.30.0", "clip_sample": false,
                 "trained_betas": null, "thresholding": false, "rescale_betas_zero_snr": false, "skip_prk_steps": true,
                 "use_karras_sigmas": false, "timestep_type": "discrete", "interpolation_type": "linear",
                 "algorithm_type": "dpmsolver++", "solver_order": 2, "variance_type": null, "sigma_min": null,
                 "dynamic_thresholding_ratio": 0.995, "sample_max_value": 1.0, "use_dynamic_shifting": false}"""));
        for (String name : Schedulers.NAMES) {
            assertEquals(name, SchedulerConfig.of(config).settings(name).scheduler());
        }
    }

    @Test
    void lambdaMinClippedIsReadAsDiffusersWritesIt(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("scheduler_config.json");
        Files.writeString(file, "{\"lambda_min_clipped\": -Infinity, \"beta_schedule\": \"scaled_linear\"}");
        assertEquals("linspace", SchedulerConfig.read(file).settings("dpmpp_2m").timestepSpacing());
        Files.writeString(file, "{\"lambda_min_clipped\": -5.1}");
        IOException e = assertThrows(IOException.class, () -> SchedulerConfig.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("lambda_min_clipped"), e.getMessage());
    }

    @Test
    void ddimClipsThePredictedSampleOnlyWhenClipSampleIsOn() {
        float[] x = {3f, -3f, 0.1f};
        float[] eps = {0f, 0f, 0f};
        for (boolean clip : new boolean[] {true, false}) {
            NoiseSchedule sched = schedule("ddim", SchedulerConfig.stableDiffusionJson().put("clip_sample", clip)
                    .put("clip_sample_range", 2.0));
            Scheduler s = Schedulers.create("ddim", sched, 10);
            float[] x0 = s.step(eps, x, NO_NOISE).predOriginal();
            double a = Math.sqrt(sched.alphaCumprod((int) s.timesteps()[0]));
            if (clip) {
                assertArrayEquals(new float[] {2f, -2f, (float) (0.1 / a)}, x0, 1e-5f);
            } else {
                assertArrayEquals(new float[] {(float) (3 / a), (float) (-3 / a), (float) (0.1 / a)}, x0, 1e-4f);
            }
        }
    }

    @Test
    void karrasSigmasRunFromSigmaMaxToSigmaMinWithRhoSeven() {
        ObjectNode config = SchedulerConfig.stableDiffusionJson().put("use_karras_sigmas", true)
                .put("timestep_spacing", "linspace");
        NoiseSchedule dpm = schedule("dpmpp_2m", config);
        double[] sigmas = Schedulers.create("dpmpp_2m", dpm, 10).sigmas();
        double max = dpm.sigma(999);
        double min = dpm.sigma(0);
        assertEquals(max, sigmas[0], 1e-5 * max);
        assertEquals(min, sigmas[9], 1e-6);
        assertEquals(0, sigmas[10]);
        // the midpoint of the ramp in σ^(1/ρ)
        double mid = Math.pow((Math.pow(max, 1 / 7.0) + Math.pow(min, 1 / 7.0)) / 2, 7);
        double[] odd = Schedulers.create("dpmpp_2m", dpm, 11).sigmas();
        assertEquals(mid, odd[5], 1e-5 * mid);
        // Euler's Karras range is its interpolated schedule's ends; its timesteps are the σ's mapped back
        // (log-linearly, so σ(t) read back linearly agrees to a few parts in 10^4)
        Scheduler euler = Schedulers.create("euler", schedule("euler", config), 10);
        for (int i = 0; i < 10; i++) {
            assertEquals(euler.sigmas()[i], schedule("euler", config).sigmaAt(euler.timesteps()[i]),
                    1e-3 * euler.sigmas()[i], "σ(t_" + i + ")");
        }
        assertEquals(999, euler.timesteps()[0], 1e-3);
        assertEquals(0, euler.timesteps()[9], 1e-3);
    }

    static final GaussianNoise NO_NOISE = out -> {
        throw new AssertionError("DDIM with η = 0 draws no noise");
    };

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
        String type = sched.settings().predictionType();
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
        return s.sigmas()[s.stepIndex()];
    }
}
