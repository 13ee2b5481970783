package dev.winnow.diffusion;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.winnow.onnx.TensorBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * One thread's UNet calls in the denoising loop, without needless copies. It keeps, for the
 * last few batch compositions (the slots of a call, in order, and the latent size), direct
 * buffers and the tensors over them, and a pinned output tensor that ONNX Runtime writes into.
 * While a composition holds, a step writes only what changed — each slot's latents (scaled by
 * its scheduler, converted to fp16 for an fp16 graph) and the timesteps — and reads each slot's
 * rows straight back into the slot's own output buffer: the text states of a batch are written
 * once, when the composition first appears (from the fp16 copy the job made once, for an fp16
 * graph). Several compositions are kept because a scalar-timestep UNet runs a step as one call
 * per timestep group.
 *
 * <p>Not thread-safe: each thread that steps has its own ({@link DiffusionPipeline} hands them
 * out). Closed by the pipeline once no thread steps any more.
 */
final class UnetWorkspace implements AutoCloseable {

    /** Compositions kept (most recently used first); a scalar-timestep UNet's step uses one per timestep. */
    static final int KEPT = 4;

    private final UNet unet;
    private final int tokens;
    private final ArrayDeque<Bound> bound = new ArrayDeque<>();
    /** One row of the conditional output, read back for guidance. */
    private float[] condRow = new float[0];
    /** How many times text states were written (a composition bound): tests watch it. */
    private int bindings;

    UnetWorkspace(UNet unet, int tokens) {
        this.unet = unet;
        this.tokens = tokens;
    }

    /**
     * One UNet call for {@code slots} (same latent size, same timestep unless the graph takes
     * one per row): afterwards each slot's {@link DenoisingSlot#modelOutput()} holds its guided
     * output. No slot is advanced.
     *
     * @return the rows in the call
     */
    int call(List<DenoisingSlot> slots) throws OrtException {
        Bound b = boundFor(slots);
        b.writeInputs(slots);
        try (OrtSession.Result ignored = unet.model().run(b.inputs, b.pinned)) {
            // the output is in the pinned buffer
        }
        int perRow = b.perRow;
        if (condRow.length < perRow) {
            condRow = new float[perRow];
        }
        int r = 0;
        for (DenoisingSlot s : slots) {
            float[] out = s.modelOutput();
            b.out.getFloats(r * perRow, out, 0, perRow);
            r++;
            if (s.usesGuidance()) {
                b.out.getFloats(r * perRow, condRow, 0, perRow);
                r++;
                s.guide(condRow);
            }
        }
        return b.rows;
    }

    /** The buffers that hold this composition, moved to the front; bound to it (text states written) if none did. */
    private Bound boundFor(List<DenoisingSlot> slots) throws OrtException {
        for (Iterator<Bound> it = bound.iterator(); it.hasNext(); ) {
            Bound b = it.next();
            if (b.holds(slots)) {
                if (b != bound.peekFirst()) {
                    it.remove();
                    bound.addFirst(b);
                }
                return b;
            }
        }
        Bound b = bound.size() < KEPT ? new Bound() : bound.removeLast();
        bound.addFirst(b);
        b.bind(slots);
        bindings++;
        return b;
    }

    /** How many times a composition's text states were written, so far. */
    int bindings() {
        return bindings;
    }

    @Override
    public void close() {
        bound.forEach(Bound::close);
        bound.clear();
    }

    /** Buffers and tensors for one composition. */
    private final class Bound implements AutoCloseable {
        final TensorBuffer sample = new TensorBuffer(unet.sampleType());
        final TensorBuffer states = new TensorBuffer(unet.statesType());
        final TensorBuffer timestep = new TensorBuffer(unet.timestepType());
        final TensorBuffer out = new TensorBuffer(unet.sampleType());
        /** The slots whose text states are in place, in row order; identity decides. */
        DenoisingSlot[] slots = new DenoisingSlot[0];
        int rows;
        int height;
        int width;
        int perRow;
        OnnxTensor[] tensors = new OnnxTensor[0];
        Map<String, OnnxTensor> inputs;
        Map<String, OnnxTensor> pinned;

        boolean holds(List<DenoisingSlot> candidates) {
            if (candidates.size() != slots.length) {
                return false;
            }
            for (int i = 0; i < slots.length; i++) {
                if (candidates.get(i) != slots[i]) {
                    return false;
                }
            }
            return true; // the same slots have the same latent size and guidance
        }

        /** Takes on a new composition: tensors of its shape, and its text states written once. */
        void bind(List<DenoisingSlot> next) throws OrtException {
            slots = new DenoisingSlot[0]; // until bound, it holds nothing
            DenoisingSlot first = next.get(0);
            int r = 0;
            for (DenoisingSlot s : next) {
                r += s.rows();
            }
            int h = first.latentHeight();
            int w = first.latentWidth();
            int row = unet.channels() * h * w;
            int stateRow = tokens * unet.textWidth();
            boolean grown = sample.ensure(r * row) | out.ensure(r * row) | states.ensure(r * stateRow)
                    | timestep.ensure(r);
            if (grown || r != rows || h != height || w != width || inputs == null) {
                closeTensors();
                rows = r;
                height = h;
                width = w;
                perRow = row;
                OrtEnvironment env = unet.model().environment();
                boolean perRowTimestep = unet.acceptsPerRowTimesteps();
                OnnxTensor sampleT = sample.tensor(env, new long[] {r, unet.channels(), h, w});
                OnnxTensor statesT = states.tensor(env, new long[] {r, tokens, unet.textWidth()});
                OnnxTensor timestepT = timestep.tensor(env, perRowTimestep ? new long[] {r} : new long[0]);
                OnnxTensor outT = out.tensor(env, new long[] {r, unet.channels(), h, w});
                tensors = new OnnxTensor[] {sampleT, statesT, timestepT, outT};
                inputs = Map.of(UNet.SAMPLE, sampleT, UNet.STATES, statesT, UNet.TIMESTEP, timestepT);
                pinned = Map.of(unet.outputName(), outT);
            }
            int at = 0;
            for (DenoisingSlot s : next) {
                PromptEmbedding p = s.prompt();
                if (s.usesGuidance()) {
                    putStates(at, p.uncond(), p.uncondHalf(), stateRow);
                    at += stateRow;
                }
                putStates(at, p.cond(), p.condHalf(), stateRow);
                at += stateRow;
            }
            slots = next.toArray(new DenoisingSlot[0]);
        }

        private void putStates(int at, float[] values, short[] half, int len) {
            if (half != null && states.type() == OnnxJavaType.FLOAT16) {
                states.putHalves(at, half, 0, len);
            } else {
                states.putFloats(at, values, 0, len);
            }
        }

        /** What changes every step: the latents (scaled by each slot's scheduler) and the timesteps. */
        void writeInputs(List<DenoisingSlot> next) {
            boolean perRowTimestep = unet.acceptsPerRowTimesteps();
            int r = 0;
            for (DenoisingSlot s : next) {
                float[] in = s.modelInput();
                double t = s.currentTimestep();
                sample.putFloats(r * perRow, in, 0, perRow);
                putTimestep(perRowTimestep ? r : 0, t);
                if (s.usesGuidance()) {
                    sample.copyWithin(r * perRow, (r + 1) * perRow, perRow);
                    if (perRowTimestep) {
                        putTimestep(r + 1, t);
                    }
                    r++;
                }
                r++;
            }
        }

        /** As diffusers' ONNX pipelines pass it: a float (or fp16), or an int64 truncating a fractional timestep. */
        private void putTimestep(int at, double t) {
            timestep.put(at, (float) t, UNet.integerTimestep(t));
        }

        private void closeTensors() {
            for (OnnxTensor t : tensors) {
                t.close();
            }
            tensors = new OnnxTensor[0];
            inputs = null;
            pinned = null;
        }

        @Override
        public void close() {
            closeTensors();
        }
    }
}
