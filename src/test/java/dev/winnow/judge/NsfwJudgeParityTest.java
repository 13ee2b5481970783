package dev.winnow.judge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.JudgeManifests;
import java.awt.image.BufferedImage;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * The ONNX conversion of nsfwjs' MobileNetV2 gives the probabilities that the original
 * model gives in TensorFlow.js (reference values recorded by models/tools/nsfw/make.sh).
 */
class NsfwJudgeParityTest {

    static final Path JUDGE = Path.of("models", "judges", "nsfw-mobilenet-v2");

    @Test
    void onnxModelMatchesTheTensorflowJsReferenceWithinOneInHundredThousand() throws Exception {
        JudgeManifest manifest = JudgeManifests.read(JUDGE);
        JsonNode reference = new ObjectMapper().readTree(JUDGE.resolve("parity/reference.json").toFile());
        assertTrue(reference.size() >= 8, "at least 8 reference images");
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        double worst = 0;
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(JUDGE.resolve(manifest.model()).toString(), options)) {
            for (JsonNode ref : reference) {
                BufferedImage img = ImageIO.read(JUDGE.resolve("parity").resolve(ref.get("file").asText()).toFile());
                assertEquals(224, img.getWidth());
                float[] nhwc = new float[224 * 224 * 3];
                for (int y = 0; y < 224; y++) {
                    for (int x = 0; x < 224; x++) {
                        int rgb = img.getRGB(x, y);
                        int i = (y * 224 + x) * 3;
                        nhwc[i] = ((rgb >> 16) & 0xff) / 255f;
                        nhwc[i + 1] = ((rgb >> 8) & 0xff) / 255f;
                        nhwc[i + 2] = (rgb & 0xff) / 255f;
                    }
                }
                try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(nhwc), new long[] {1, 224, 224, 3});
                     OrtSession.Result r = session.run(Map.of(manifest.imageInput().name(), in))) {
                    float[][] probs = (float[][]) r.get(manifest.output().name()).orElseThrow().getValue();
                    for (int k = 0; k < 5; k++) {
                        double diff = Math.abs(probs[0][k] - ref.get("probabilities").get(k).asDouble());
                        worst = Math.max(worst, diff);
                    }
                }
            }
        }
        assertTrue(worst <= 1e-5, "max |onnx - tfjs| = " + worst);
    }
}
