package dev.winnow.diffusion.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import dev.winnow.engine.WinnowConfig;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Sampling runs computed by diffusers' own scheduler classes ({@code ../shared/diffusers-golden/},
 * or the folder named by {@code -Dgolden.dir=DIR}), replayed step by step: the scheduler is
 * built from the case's {@code scheduler_config} exactly as the service builds it from a pack, fed
 * the same x_T, the same analytic stand-in model and the same step noise, and must reproduce
 * diffusers' timesteps, sigmas, every model input and every latent (float32 rounding only).
 * One dynamic test per file, named after the file.
 */
class DiffusersGoldenTest {

    /** diffusers computes in float32 and so does Winnow's arithmetic at the tensors: ~1e-5 relative is rounding. */
    static final double RTOL = 1e-5;
    static final double ATOL = 1e-5;

    /** diffusers writes Python's json: {@code lambda_min_clipped} is {@code -Infinity}. */
    static final ObjectMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    /**
     * The system property that names another folder of golden runs. Surefire hands a {@code -D} on
     * Maven's command line to the test JVM, where every {@code @QuarkusTest} application reads it:
     * under {@code winnow.*} the strict check of the service's configuration would refuse it as an
     * unknown key and stop each of them at startup, so it is named outside {@code winnow.*}.
     */
    static final String GOLDEN_DIR_PROPERTY = "golden.dir";

    static Path goldenDir() {
        String dir = System.getProperty(GOLDEN_DIR_PROPERTY);
        return dir == null || dir.isBlank() ? Path.of("..", "shared", "diffusers-golden") : Path.of(dir);
    }

    @TestFactory
    Stream<DynamicTest> everyGoldenRunIsReproducedStepByStep() throws IOException {
        Path dir = goldenDir();
        boolean named = System.getProperty(GOLDEN_DIR_PROPERTY) != null;
        if (!named) {
            assumeTrue(Files.isDirectory(dir), dir + " is absent (CI has ../shared beside the clone): skipping the diffusers golden runs");
        }
        assertTrue(Files.isDirectory(dir), GOLDEN_DIR_PROPERTY + "=" + dir + " is not a folder");
        List<Path> cases;
        try (Stream<Path> files = Files.list(dir)) {
            cases = files.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        }
        assertFalse(cases.isEmpty(), dir + " holds no *.json golden runs");
        return cases.stream().map(file -> DynamicTest.dynamicTest(file.getFileName().toString(), file.toUri(),
                () -> replay(JSON.readTree(file.toFile()))));
    }

    @Test
    void theReadmesCommandForOtherGoldenRunsNamesThisPropertyAndTheServiceStartsWithItSet() throws IOException {
        Matcher command = Pattern.compile("\\./mvnw test -D([\\w.-]+)=DIR").matcher(Files.readString(Path.of("README.md")));
        assertTrue(command.find(), "the README says how to replay other golden runs");
        assertEquals(GOLDEN_DIR_PROPERTY, command.group(1), "the property the README names is the one read here");
        // The service's own configuration, checked as strictly as at startup, with the property set as Maven sets it
        SmallRyeConfig config = new SmallRyeConfigBuilder().addDefaultInterceptors()
                .addDiscoveredConverters().withMapping(WinnowConfig.class) // Quarkus' own: durations, memory sizes
                .withSources(new PropertiesConfigSource(Map.of(command.group(1), "DIR", "java.io.tmpdir", "/tmp"),
                        "mvn -D", 400))
                .build();
        assertEquals("DIR", config.getRawValue(command.group(1)));
    }

    static void replay(JsonNode golden) throws Exception {
        String kind = golden.get("scheduler").asText();
        int steps = golden.get("steps").asInt();
        // as DiffusionPipeline does with the pack's scheduler/scheduler_config.json
        Scheduler s = new Schedulers(SchedulerConfig.of(golden.get("scheduler_config"))).create(kind, steps);

        assertClose(doubles(golden.get("timesteps")), s.timesteps(), "timesteps");
        double[] sigmas = doubles(golden.get("sigmas"));
        if (sigmas.length > 0) {
            assertClose(sigmas, s.sigmas(), "sigmas");
        }
        assertClose(new double[] {golden.get("init_noise_sigma").asDouble()}, new double[] {s.initNoiseSigma()},
                "init_noise_sigma");

        // The pipeline's loop (DenoisingSlot): x = x_T · σ_init, then scale → model → step.
        float[] x = floats(golden.get("x_T"));
        float init = (float) s.initNoiseSigma();
        for (int i = 0; i < x.length; i++) {
            x[i] *= init;
        }
        for (int k = 0; k < steps; k++) {
            String at = "step " + k + " (t=" + s.currentTimestep() + ")";
            float[] in = s.scaleModelInput(x);
            assertClose(golden.get("model_inputs").get(k), in, "model input at " + at);
            float[] out = model(in, s.currentTimestep());
            RecordedNoise noise = new RecordedNoise(golden.get("step_noise").get(k));
            StepResult r = s.step(out, x, noise);
            noise.assertAllUsed(at);
            assertClose(golden.get("trajectory").get(k), r.prevSample(), "latent after " + at);
            JsonNode denoised = golden.get("denoised").get(k);
            if (denoised != null && !denoised.isNull()) {
                assertClose(denoised, r.predOriginal(), "denoised at " + at);
            }
            x = r.prevSample();
        }
        assertTrue(s.isDone(), "the scheduler should be done after " + steps + " steps");
    }

    /** The golden runs' stand-in UNet: out[i] = 0.4·x_in[i] + 0.1·t/1000 + 0.05·cos(i), in float64, then float32. */
    static float[] model(float[] in, double t) {
        float[] out = new float[in.length];
        for (int i = 0; i < in.length; i++) {
            out[i] = (float) (0.4 * in[i] + 0.1 * t / 1000.0 + 0.05 * Math.cos(i));
        }
        return out;
    }

    /** Hands out, in order, the standard-normal draws that diffusers' step() made at one step. */
    static final class RecordedNoise implements GaussianNoise {
        private final JsonNode draws;
        private int used;

        RecordedNoise(JsonNode draws) {
            this.draws = draws;
        }

        @Override
        public void fill(float[] out) {
            if (used >= draws.size()) {
                fail("the scheduler drew noise " + (used + 1) + " time(s) where diffusers drew " + draws.size());
            }
            JsonNode d = draws.get(used++);
            assertEquals(out.length, d.size(), "noise draw size");
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) d.get(i).asDouble();
            }
        }

        void assertAllUsed(String at) {
            assertEquals(draws.size(), used, "noise draws at " + at + " (diffusers drew " + draws.size() + ")");
        }
    }

    static void assertClose(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length; expected " + java.util.Arrays.toString(expected)
                + " but was " + java.util.Arrays.toString(actual));
        for (int i = 0; i < expected.length; i++) {
            check(expected[i], actual[i], what, i);
        }
    }

    static void assertClose(JsonNode expected, float[] actual, String what) {
        assertEquals(expected.size(), actual.length, what + ": length");
        for (int i = 0; i < actual.length; i++) {
            check(expected.get(i).asDouble(), actual[i], what, i);
        }
    }

    private static void check(double expected, double actual, String what, int i) {
        if (!(Math.abs(actual - expected) <= ATOL + RTOL * Math.abs(expected))) {
            fail(what + " [" + i + "]: diffusers " + expected + ", Winnow " + actual
                    + " (relative difference " + Math.abs(actual - expected) / Math.max(1e-12, Math.abs(expected)) + ")");
        }
    }

    static double[] doubles(JsonNode n) {
        if (n == null || n.isNull()) {
            return new double[0];
        }
        double[] d = new double[n.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = n.get(i).asDouble();
        }
        return d;
    }

    static float[] floats(JsonNode n) {
        float[] f = new float[n.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) n.get(i).asDouble();
        }
        return f;
    }
}
