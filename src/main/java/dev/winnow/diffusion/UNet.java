package dev.winnow.diffusion;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.winnow.onnx.ModelLoadException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.Tensors;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The denoising UNet graph: {@code sample} [B, C, h, w], {@code timestep},
 * {@code encoder_hidden_states} [B, L, D] → {@code out_sample} [B, C, h, w].
 *
 * <p>The timestep comes in three dialects, read from the graph: float [B] (diffusers'
 * converter), int64 [B] (Optimum before 1.24) or a rank-0 float (Optimum 1.24+). With a
 * per-row timestep, rows at different steps share one call; with a scalar timestep the rows
 * are grouped by timestep and run group by group ({@link UnetCallPlan}).
 *
 * <p>Everything a call needs to know about the graph (element types, the output's name) is
 * read here, once, at load. The denoising loop's calls go through a {@link UnetWorkspace};
 * {@link #predict} is the plain, allocating call (probes, tests, benchmarks).
 */
public final class UNet implements AutoCloseable {

    static final String SAMPLE = "sample";
    static final String TIMESTEP = "timestep";
    static final String STATES = "encoder_hidden_states";
    static final String OUTPUT = "out_sample";

    /** How the graph takes its timestep. */
    public enum TimestepKind { FLOAT_PER_ROW, INT64_PER_ROW, SCALAR_FLOAT, SCALAR_INT64 }

    private final ModelSession model;
    private final OnnxJavaType sampleType;
    private final OnnxJavaType statesType;
    private final TimestepKind timestepKind;
    private final OnnxJavaType timestepType;
    private final int channels;
    private final int latentHeight;   // -1 when dynamic
    private final int latentWidth;
    private final int textLength;
    private final int textWidth;
    private final String outputName;

    private UNet(ModelSession model, OnnxJavaType sampleType, OnnxJavaType statesType, TimestepKind timestepKind,
                 long[] sampleShape, long[] statesShape, String outputName) {
        this.model = model;
        this.sampleType = sampleType;
        this.statesType = statesType;
        this.timestepKind = timestepKind;
        this.timestepType = model.input(TIMESTEP).type;
        this.channels = (int) sampleShape[1];
        this.latentHeight = (int) sampleShape[2];
        this.latentWidth = (int) sampleShape[3];
        this.textLength = (int) statesShape[1];
        this.textWidth = (int) statesShape[2];
        this.outputName = outputName;
    }

    public static UNet load(ModelSession model) {
        TensorInfo sample = model.input(SAMPLE);
        long[] sampleShape = sample.getShape();
        if (!Tensors.isFloat(sample) || sampleShape.length != 4 || sampleShape[1] <= 0) {
            throw new ModelLoadException(model.file() + ": input '" + SAMPLE + "' is " + sample.type + " "
                    + Tensors.describe(sampleShape) + ", expected float [batch, channels, height, width]");
        }
        TensorInfo states = model.input(STATES);
        long[] statesShape = states.getShape();
        if (!Tensors.isFloat(states) || statesShape.length != 3 || statesShape[2] <= 0) {
            throw new ModelLoadException(model.file() + ": input '" + STATES + "' is " + states.type + " "
                    + Tensors.describe(statesShape) + ", expected float [batch, tokens, width] with a fixed width");
        }
        if (model.hasInput("text_embeds") || model.hasInput("time_ids")) {
            throw new ModelLoadException(model.file() + ": this UNet takes 'text_embeds'/'time_ids' (an SDXL export); "
                    + "SDXL is not supported yet. Use an SD 1.x, 2.x or SD-Turbo export.");
        }
        if (model.inputs().size() != 3) {
            throw new ModelLoadException(model.file() + ": expected exactly the inputs [sample, timestep, "
                    + "encoder_hidden_states], found " + model.inputs().keySet());
        }
        String output = model.outputs().containsKey(OUTPUT) ? OUTPUT : model.outputs().keySet().iterator().next();
        return new UNet(model, sample.type, states.type, timestepKind(model), sampleShape, statesShape, output);
    }

    private static TimestepKind timestepKind(ModelSession model) {
        TensorInfo t = model.input(TIMESTEP);
        long[] shape = t.getShape();
        boolean scalar = shape.length == 0;
        boolean perRow = shape.length == 1;
        if (t.type == OnnxJavaType.INT64 && (scalar || perRow)) {
            return scalar ? TimestepKind.SCALAR_INT64 : TimestepKind.INT64_PER_ROW;
        }
        if (Tensors.isFloat(t) && (scalar || perRow)) {
            return scalar ? TimestepKind.SCALAR_FLOAT : TimestepKind.FLOAT_PER_ROW;
        }
        throw new ModelLoadException(model.file() + ": input '" + TIMESTEP + "' is " + t.type + " "
                + Tensors.describe(shape) + ", expected float [batch], int64 [batch] or a rank-0 float");
    }

    public int channels() {
        return channels;
    }

    /** The latent height the graph is fixed to, or -1 when it takes any. */
    public int latentHeight() {
        return latentHeight;
    }

    public int latentWidth() {
        return latentWidth;
    }

    public int textWidth() {
        return textWidth;
    }

    /** The text length the graph is fixed to, or -1. */
    public int textLength() {
        return textLength;
    }

    /** Whether the graph takes fp16 latents (an fp16 export). */
    public boolean isFp16() {
        return sampleType == OnnxJavaType.FLOAT16;
    }

    public TimestepKind timestepKind() {
        return timestepKind;
    }

    /** Whether rows at different timesteps can share one call. */
    public boolean acceptsPerRowTimesteps() {
        return timestepKind == TimestepKind.FLOAT_PER_ROW || timestepKind == TimestepKind.INT64_PER_ROW;
    }

    /** The element type of the latents in and out: FLOAT, or FLOAT16 for an fp16 export. */
    OnnxJavaType sampleType() {
        return sampleType;
    }

    OnnxJavaType statesType() {
        return statesType;
    }

    /** FLOAT, FLOAT16 or INT64, per row or rank 0 as {@link #timestepKind()} says. */
    OnnxJavaType timestepType() {
        return timestepType;
    }

    String outputName() {
        return outputName;
    }

    ModelSession model() {
        return model;
    }

    /** The graph's file, for messages. */
    public java.nio.file.Path file() {
        return model.file();
    }

    /**
     * Predicts the model output for {@code rows} rows.
     *
     * @param samples    rows·C·h·w latents (already scaled by the scheduler)
     * @param timesteps  one per row
     * @param states     rows·L·D text states
     * @return rows·C·h·w model outputs
     */
    public float[] predict(float[] samples, int rows, int height, int width, double[] timesteps, float[] states,
                           int tokens) throws OrtException {
        int perRow = channels * height * width;
        if (acceptsPerRowTimesteps() || rows == 1 || allEqual(timesteps)) {
            return run(samples, rows, height, width, timesteps, states, tokens);
        }
        // A scalar-timestep graph: run each group of rows that share a timestep.
        Map<Double, List<Integer>> groups = new LinkedHashMap<>();
        for (int r = 0; r < rows; r++) {
            groups.computeIfAbsent(timesteps[r], k -> new java.util.ArrayList<>()).add(r);
        }
        float[] out = new float[rows * perRow];
        int stateRow = tokens * textWidth;
        for (Map.Entry<Double, List<Integer>> g : groups.entrySet()) {
            List<Integer> idx = g.getValue();
            float[] s = new float[idx.size() * perRow];
            float[] h = new float[idx.size() * stateRow];
            double[] t = new double[idx.size()];
            for (int i = 0; i < idx.size(); i++) {
                System.arraycopy(samples, idx.get(i) * perRow, s, i * perRow, perRow);
                System.arraycopy(states, idx.get(i) * stateRow, h, i * stateRow, stateRow);
                t[i] = g.getKey();
            }
            float[] o = run(s, idx.size(), height, width, t, h, tokens);
            for (int i = 0; i < idx.size(); i++) {
                System.arraycopy(o, i * perRow, out, idx.get(i) * perRow, perRow);
            }
        }
        return out;
    }

    private float[] run(float[] samples, int rows, int height, int width, double[] timesteps, float[] states,
                        int tokens) throws OrtException {
        OrtEnvironment env = model.environment();
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put(SAMPLE, Tensors.floats(env, samples, new long[] {rows, channels, height, width}, sampleType));
            in.put(STATES, Tensors.floats(env, states, new long[] {rows, tokens, textWidth}, statesType));
            in.put(TIMESTEP, timestepTensor(env, timesteps));
            try (OrtSession.Result r = model.run(in)) {
                return Tensors.readFloats(r, outputName);
            }
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }

    private OnnxTensor timestepTensor(OrtEnvironment env, double[] timesteps) throws OrtException {
        return switch (timestepKind) {
            case FLOAT_PER_ROW -> {
                float[] t = new float[timesteps.length];
                for (int i = 0; i < t.length; i++) {
                    t[i] = (float) timesteps[i];
                }
                yield Tensors.floats(env, t, new long[] {t.length}, timestepType);
            }
            case INT64_PER_ROW -> {
                long[] t = new long[timesteps.length];
                for (int i = 0; i < t.length; i++) {
                    t[i] = integerTimestep(timesteps[i]);
                }
                yield OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(t), new long[] {t.length});
            }
            case SCALAR_FLOAT -> timestepType == OnnxJavaType.FLOAT16
                    ? Tensors.floats(env, new float[] {(float) timesteps[0]}, new long[0], OnnxJavaType.FLOAT16)
                    : OnnxTensor.createTensor(env, (float) timesteps[0]);
            case SCALAR_INT64 -> OnnxTensor.createTensor(env, integerTimestep(timesteps[0]));
        };
    }

    /**
     * An int64 graph gets the timestep as diffusers' ONNX pipelines hand it over:
     * {@code np.array([t], dtype=np.int64)} truncates a fractional Euler timestep (893.7 → 893).
     */
    static long integerTimestep(double t) {
        return (long) t;
    }

    private static boolean allEqual(double[] t) {
        for (double v : t) {
            if (v != t[0]) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() {
        model.close();
    }
}
