package dev.winnow.modelpack;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The committed packs under {@code models/} load in the ONNX Runtime version the service
 * ships (Java, 1.29) with exactly the inputs and outputs their contracts declare, and run.
 */
class EmbeddedPacksTest {

    static final Path MODELS = Path.of("models");
    static OrtEnvironment env;

    @BeforeAll
    static void environment() {
        env = OrtEnvironment.getEnvironment();
    }

    @AfterAll
    static void nothingToClose() {
        // The environment is process-wide and closes itself at exit.
    }

    @Test
    void scenesTextEncoderTakesInt32IdsInAThirtyTwoTokenWindowAndGivesStatesPerToken() throws OrtException {
        try (OrtSession s = open("shapes-scenes/text_encoder")) {
            assertTensor(s.getInputInfo().get("input_ids"), OnnxJavaType.INT32, -1, 32);
            assertTensor(s.getOutputInfo().get("last_hidden_state"), OnnxJavaType.FLOAT, -1, 32, 128);
            int[] ids = new int[2 * 32];
            try (OnnxTensor in = OnnxTensor.createTensor(env, IntBuffer.wrap(ids), new long[] {2, 32});
                 OrtSession.Result r = s.run(Map.of("input_ids", in))) {
                assertFiniteWithShape(r, "last_hidden_state", 2, 32, 128);
            }
        }
    }

    @Test
    void scenesUnetTakesSixteenBySixteenLatentsAndAPerRowFloatTimestep() throws OrtException {
        try (OrtSession s = open("shapes-scenes/unet")) {
            assertTensor(s.getInputInfo().get("sample"), OnnxJavaType.FLOAT, -1, 4, 16, 16);
            assertTensor(s.getInputInfo().get("timestep"), OnnxJavaType.FLOAT, -1);
            assertTensor(s.getInputInfo().get("encoder_hidden_states"), OnnxJavaType.FLOAT, -1, 32, 128);
            assertTensor(s.getOutputInfo().get("out_sample"), OnnxJavaType.FLOAT, -1, 4, 16, 16);
            Map<String, OnnxTensor> in = new HashMap<>();
            try {
                in.put("sample", floats(new float[3 * 1024], 3, 4, 16, 16));
                in.put("timestep", floats(new float[] {999f, 500f, 1f}, 3));
                in.put("encoder_hidden_states", floats(new float[3 * 32 * 128], 3, 32, 128));
                try (OrtSession.Result r = s.run(in)) {
                    assertFiniteWithShape(r, "out_sample", 3, 4, 16, 16);
                }
            } finally {
                in.values().forEach(OnnxTensor::close);
            }
        }
    }

    @Test
    void scenesVaeDecoderUpsamplesFourTimesToSixtyFourPixelImages() throws OrtException {
        try (OrtSession s = open("shapes-scenes/vae_decoder")) {
            assertTensor(s.getInputInfo().get("latent_sample"), OnnxJavaType.FLOAT, -1, 4, 16, 16);
            assertTensor(s.getOutputInfo().get("sample"), OnnxJavaType.FLOAT, -1, 3, 64, 64);
            try (OnnxTensor in = floats(new float[2 * 1024], 2, 4, 16, 16);
                 OrtSession.Result r = s.run(Map.of("latent_sample", in))) {
                assertFiniteWithShape(r, "sample", 2, 3, 64, 64);
            }
        }
    }

    @Test
    void everyJudgeDeclaresTheInputsAndOutputsItsModelHas() throws OrtException {
        for (String judge : new String[] {"nsfw-mobilenet-v2", "aesthetic-scenes", "aesthetic-scenes-people", "scenes-verifier",
                "scenes-verifier-preview"}) {
            Path folder = MODELS.resolve("judges").resolve(judge);
            JudgeManifest m = JudgeManifests.read(folder);
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                 OrtSession s = env.createSession(folder.resolve(m.model()).toString(), o)) {
                JudgeManifest.ImageInput img = m.imageInput();
                long[] shape = "NHWC".equals(img.layout())
                        ? new long[] {-1, img.height(), img.width(), 3}
                        : new long[] {-1, 3, img.height(), img.width()};
                assertTensor(s.getInputInfo().get(img.name()), OnnxJavaType.FLOAT, shape);
                Map<String, OnnxTensor> in = new HashMap<>();
                try {
                    long[] two = shape.clone();
                    two[0] = 2;
                    in.put(img.name(), floats(new float[(int) (2 * Math.abs(shape[1] * shape[2] * shape[3]))], two));
                    if (m.textInput() != null) {
                        assertTensor(s.getInputInfo().get(m.textInput().name()), OnnxJavaType.INT32, -1, m.textInput().maxLength());
                        int[] ids = new int[2 * m.textInput().maxLength()];
                        in.put(m.textInput().name(), OnnxTensor.createTensor(env, IntBuffer.wrap(ids),
                                new long[] {2, m.textInput().maxLength()}));
                    }
                    try (OrtSession.Result r = s.run(in)) {
                        float[] out = flat(r, m.output().name());
                        int perRow = m.role() == JudgeManifest.Role.SAFETY ? m.labels().size() : 1;
                        assertEquals(2 * perRow, out.length, judge + " output size");
                    }
                } finally {
                    in.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    private static OrtSession open(String model) throws OrtException {
        return env.createSession(MODELS.resolve(model).resolve("model.onnx").toString(), new OrtSession.SessionOptions());
    }

    private static OnnxTensor floats(float[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    private static void assertTensor(NodeInfo info, OnnxJavaType type, long... shape) {
        assertTrue(info != null, "missing input/output " + shape.length + "-d " + type);
        TensorInfo t = (TensorInfo) info.getInfo();
        assertEquals(type, t.type, info.getName() + " dtype");
        assertArrayEquals(shape, t.getShape(), info.getName() + " shape (-1 = dynamic batch)");
    }

    private static float[] flat(OrtSession.Result r, String name) throws OrtException {
        OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow(() -> new AssertionError("no output " + name));
        FloatBuffer fb = t.getFloatBuffer();
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    private static void assertFiniteWithShape(OrtSession.Result r, String name, long... shape) throws OrtException {
        OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow(() -> new AssertionError("no output " + name));
        assertArrayEquals(shape, t.getInfo().getShape(), name + " shape");
        for (float v : flat(r, name)) {
            assertTrue(Float.isFinite(v), name + " has a non-finite value");
        }
    }
}
