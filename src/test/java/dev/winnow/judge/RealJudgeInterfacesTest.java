package dev.winnow.judge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.image.Resize;
import dev.winnow.image.RgbImage;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The judge adapters for real checkpoints (what models/tools/export_sd.py writes), against
 * fixtures with their exact interfaces: the CompVis safety checker (two image inputs, a
 * boolean flag out), a ViT NSFW classifier (logits), the LAION aesthetic predictor (CLIP
 * preprocessing: bicubic, centre crop, CLIP mean/std).
 */
class RealJudgeInterfacesTest {

    static final OnnxSessions CPU = OnnxSessions.create(DeviceChoice.CPU, 1, 0);
    static final Path FIXTURES = Path.of("src/test/fixture-judges");

    static RgbImage flat(int w, int h, int value) {
        byte[] rgb = new byte[w * h * 3];
        Arrays.fill(rgb, (byte) value);
        return new RgbImage(w, h, rgb);
    }

    @Test
    void theCompVisCheckersFlagBecomesAVerdict() {
        try (SafetyJudge j = SafetyJudge.load(FIXTURES.resolve("compvis-safety-checker-fixture"), CPU, null)) {
            List<SafetyVerdict> v = j.judge(List.of(flat(512, 768, 255), flat(512, 768, 0)));
            assertEquals(Verdict.UNSAFE, v.get(0).verdict());
            assertEquals(1.0, v.get(0).unsafeProbability(), 0);
            assertEquals(Verdict.SAFE, v.get(1).verdict());
        }
    }

    @Test
    void logitsAreTurnedIntoProbabilitiesBeforeTheRule() {
        try (SafetyJudge j = SafetyJudge.load(FIXTURES.resolve("vit-nsfw-logits-fixture"), CPU, null)) {
            List<SafetyVerdict> v = j.judge(List.of(flat(64, 64, 255), flat(64, 64, 0)));
            // white: pixel_values mean 1 -> logits [-3, 3] -> p(nsfw) = 1/(1+e^-6)
            assertEquals(1 / (1 + Math.exp(-6)), v.get(0).unsafeProbability(), 1e-6);
            assertEquals(Verdict.UNSAFE, v.get(0).verdict());
            assertEquals(Verdict.SAFE, v.get(1).verdict());
        }
    }

    @Test
    void clipPreprocessingFeedsTheAestheticPredictor() throws Exception {
        try (ScoreJudge j = ScoreJudge.load(FIXTURES.resolve("laion-aesthetic-fixture"), CPU)) {
            double[] s = j.score(List.of(flat(512, 512, 255), flat(768, 512, 0)), "ignored");
            double white = 5 + 2 * Math.tanh(avgClipNormalised(1.0));
            double black = 5 + 2 * Math.tanh(avgClipNormalised(0.0));
            assertEquals(white, s[0], 1e-4);
            assertEquals(black, s[1], 1e-4);
            assertTrue(j.normalise(s[0]) > j.normalise(s[1]));
        }
    }

    private static double avgClipNormalised(double v) {
        double[] mean = {0.48145466, 0.4578275, 0.40821073};
        double[] std = {0.26862954, 0.26130258, 0.27577711};
        double sum = 0;
        for (int c = 0; c < 3; c++) {
            sum += (v - mean[c]) / std[c];
        }
        return sum / 3;
    }

    @Test
    void bicubicResizeKeepsFlatImagesFlatAndMatchesPilOnARamp() {
        float[] flat = new float[100 * 60];
        Arrays.fill(flat, 0.25f);
        for (float v : Resize.plane(flat, 100, 60, 37, 23, Resize.Mode.BICUBIC)) {
            assertEquals(0.25f, v, 1e-6f);
        }
        // PIL: Image.fromarray(np.arange(8, dtype=np.float32).reshape(1, 8)).resize((4, 1), Image.BICUBIC)
        float[] ramp = {0, 1, 2, 3, 4, 5, 6, 7};
        float[] out = Resize.plane(ramp, 8, 1, 4, 1, Resize.Mode.BICUBIC);
        float[] pil = {0.54393303f, 2.4594595f, 4.5405407f, 6.456067f};
        for (int i = 0; i < 4; i++) {
            assertEquals(pil[i], out[i], 1e-4f, "pixel " + i);
        }
    }

    @Test
    void antialiasedBilinearAveragesLikePilWhereSamplingWouldAlias() {
        // PIL: Image.fromarray(np.array([[0, 1, 0, 1, 0, 1, 0, 3]], np.float32)).resize((3, 1), Image.BILINEAR)
        float[] stripes = {0, 1, 0, 1, 0, 1, 0, 3};
        float[] pil = {0.47368422f, 0.5f, 1.1052631f};
        float[] out = Resize.plane(stripes, 8, 1, 3, 1, Resize.Mode.BILINEAR_ANTIALIAS);
        for (int i = 0; i < 3; i++) {
            assertEquals(pil[i], out[i], 1e-5f, "pixel " + i);
        }
        // sampling two neighbours (torch's bilinear without antialias) sees only some stripes
        assertEquals(0.8333333f, Resize.plane(stripes, 8, 1, 3, 1, Resize.Mode.BILINEAR)[0], 1e-5f);
        // PIL's bilinear on a ramp, 8 -> 4
        float[] ramp = Resize.plane(new float[] {0, 1, 2, 3, 4, 5, 6, 7}, 8, 1, 4, 1, Resize.Mode.BILINEAR_ANTIALIAS);
        assertEquals(0.71428573f, ramp[0], 1e-5f);
        assertEquals(6.285714f, ramp[3], 1e-5f);
    }
}
