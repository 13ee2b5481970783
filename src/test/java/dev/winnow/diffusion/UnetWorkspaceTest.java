package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.TensorBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A steady-state step re-packs nothing that has not changed: while a batch's composition
 * holds, its text states stay in place, and an fp16 UNet's states are converted once per job.
 */
class UnetWorkspaceTest {

    static final OnnxSessions CPU = OnnxSessions.create(DeviceChoice.CPU, 2, 0);

    static List<DenoisingSlot> slots(DiffusionPipeline p, String prompt, long seed, int n, int steps) throws Exception {
        PromptEmbedding e = p.encodePrompt(prompt, "");
        List<DenoisingSlot> slots = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            slots.add(p.newSlot(seed + i, e, "ddim", steps, 5.0, 128, 128));
        }
        return slots;
    }

    @Test
    void whileABatchsCompositionHoldsItsTextStatesAreWrittenOnce() throws Exception {
        try (DiffusionPipeline p = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd15-optimum-fixture"), CPU)) {
            List<DenoisingSlot> a = slots(p, "a red circle", 1, 3, 10);
            for (int i = 0; i < 5; i++) {
                p.step(a);
            }
            assertEquals(1, p.workspace().bindings(), "five steps of the same three slots: states written once");
            List<DenoisingSlot> b = slots(p, "a blue square", 9, 2, 10);
            List<DenoisingSlot> ab = new ArrayList<>(a);
            ab.addAll(b);
            p.step(ab);
            p.step(ab);
            assertEquals(2, p.workspace().bindings(), "a job joined: one new composition");
            p.step(a);
            assertEquals(2, p.workspace().bindings(), "an earlier composition is kept, not written again");
        }
    }

    @Test
    void anFp16UnetGetsTheTextStatesConvertedOncePerJobAndAnFp32UnetNone() throws Exception {
        try (DiffusionPipeline half = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd15-fp16-diffusers-fixture"), CPU);
             DiffusionPipeline full = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd15-optimum-fixture"), CPU)) {
            PromptEmbedding e = half.encodePrompt("a red circle", "blurry");
            assertArrayEquals(TensorBuffer.toHalf(e.cond()), e.condHalf());
            assertArrayEquals(TensorBuffer.toHalf(e.uncond()), e.uncondHalf());
            PromptEmbedding f = full.encodePrompt("a red circle", "");
            assertNull(f.condHalf());
            assertNull(f.uncondHalf());
        }
    }
}
