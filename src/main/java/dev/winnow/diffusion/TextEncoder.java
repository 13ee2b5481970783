package dev.winnow.diffusion;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.winnow.onnx.ModelLoadException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.Tensors;
import java.util.Map;

/**
 * The text encoder graph: {@code input_ids} [B, L] (int32 from diffusers' converter, int64
 * from Optimum) → {@code last_hidden_state} [B, L, D].
 */
public final class TextEncoder implements AutoCloseable {

    static final String INPUT = "input_ids";
    static final String OUTPUT = "last_hidden_state";

    private final ModelSession model;
    private final OnnxJavaType idType;
    private final int maxLength;
    private final int hiddenSize;

    private TextEncoder(ModelSession model, OnnxJavaType idType, int maxLength, int hiddenSize) {
        this.model = model;
        this.idType = idType;
        this.maxLength = maxLength;
        this.hiddenSize = hiddenSize;
    }

    /** Checks the graph against the tokenizer's window and the UNet's text width. */
    public static TextEncoder load(ModelSession model, int maxLength, int expectedHiddenSize) {
        TensorInfo ids = model.input(INPUT);
        if (ids.type != OnnxJavaType.INT32 && ids.type != OnnxJavaType.INT64) {
            throw new ModelLoadException(model.file() + ": input '" + INPUT + "' is " + ids.type + ", expected int32 or int64");
        }
        long[] idShape = ids.getShape();
        if (idShape.length != 2 || (idShape[1] > 0 && idShape[1] != maxLength)) {
            throw new ModelLoadException(model.file() + ": input '" + INPUT + "' has shape " + Tensors.describe(idShape)
                    + ", expected [batch, " + maxLength + "] (the tokenizer's max length)");
        }
        TensorInfo out = model.output(OUTPUT);
        long[] outShape = out.getShape();
        if (!Tensors.isFloat(out) || outShape.length != 3) {
            throw new ModelLoadException(model.file() + ": output '" + OUTPUT + "' is " + out.type + " "
                    + Tensors.describe(outShape) + ", expected float [batch, " + maxLength + ", " + expectedHiddenSize + "]");
        }
        if (outShape[2] > 0 && outShape[2] != expectedHiddenSize) {
            throw new ModelLoadException(model.file() + ": output '" + OUTPUT + "' is " + outShape[2]
                    + " wide, but the UNet's encoder_hidden_states expect " + expectedHiddenSize);
        }
        return new TextEncoder(model, ids.type, maxLength, expectedHiddenSize);
    }

    public int maxLength() {
        return maxLength;
    }

    public int hiddenSize() {
        return hiddenSize;
    }

    /**
     * Encodes padded id rows.
     *
     * @return B·L·D floats, row after row
     */
    public float[] encode(int[][] rows) throws OrtException {
        int b = rows.length;
        int[] flat = new int[b * maxLength];
        for (int i = 0; i < b; i++) {
            if (rows[i].length != maxLength) {
                throw new IllegalArgumentException("row " + i + " has " + rows[i].length + " ids, expected " + maxLength);
            }
            System.arraycopy(rows[i], 0, flat, i * maxLength, maxLength);
        }
        try (OnnxTensor in = Tensors.ids(model.environment(), flat, new long[] {b, maxLength}, idType);
             OrtSession.Result r = model.run(Map.of(INPUT, in))) {
            return Tensors.readFloats(r, OUTPUT);
        }
    }

    ModelSession model() {
        return model;
    }

    @Override
    public void close() {
        model.close();
    }
}
