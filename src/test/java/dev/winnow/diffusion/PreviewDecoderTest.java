package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.image.RgbImage;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The embedded pack's preview decoder (models/shapes-scenes/preview_decoder): what pruning's x̂₀
 * previews go through instead of the VAE decoder. It must draw the scene the VAE draws from the
 * same latent, on previews the engine really judges.
 */
class PreviewDecoderTest {

    static DiffusionPipeline pipeline;

    @BeforeAll
    static void load() {
        pipeline = DiffusionPipeline.load(Path.of("models/shapes-scenes"), OnnxSessions.create(DeviceChoice.CPU, 2, 0));
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    @Test
    void theEmbeddedPackHasAPreviewDecoderWithAVersion() {
        assertTrue(pipeline.hasPreviewDecoder());
        assertEquals("shapes-scenes/preview_decoder", pipeline.previewDecoderId().name());
        assertTrue(pipeline.previewDecoderId().version().startsWith("sha256-"), pipeline.previewDecoderId().toString());
    }

    @Test
    void itDrawsTheVaesImageOfAPreviewWithinAFewLevels() throws Exception {
        // x̂0 after 4 of 20 DDIM steps (pruning's default point) of four candidates of a benchmark-form prompt
        PromptEmbedding prompt = pipeline.encodePrompt("a red circle to the left of a blue square", "");
        List<DenoisingSlot> slots = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            slots.add(pipeline.newSlot(777 + i, prompt, "ddim", 20, 5.0, 64, 64));
        }
        for (int step = 0; step < 4; step++) {
            pipeline.step(slots);
        }
        List<float[]> previews = slots.stream().map(DenoisingSlot::predictedOriginal).toList();
        List<RgbImage> vae = pipeline.decodeLatents(previews, 16, 16, 8);
        List<RgbImage> tiny = pipeline.decodePreviews(previews, 16, 16, 8);
        for (int i = 0; i < previews.size(); i++) {
            byte[] a = vae.get(i).rgb();
            byte[] b = tiny.get(i).rgb();
            assertEquals(a.length, b.length);
            long sum = 0;
            for (int k = 0; k < a.length; k++) {
                sum += Math.abs((a[k] & 0xff) - (b[k] & 0xff));
            }
            double mean = (double) sum / a.length;
            // its held-out error is about 2-4 levels (preview_decoder/config.json); a decoder that drew
            // something else (a blank, a shifted or recoloured scene) is tens of levels off
            assertTrue(mean < 8, "candidate " + i + ": mean absolute difference " + mean + " levels");
        }
    }
}
