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

/** The VAE decoder graph: {@code latent_sample} [B, C, h, w] (unscaled latents) → {@code sample} [B, 3, H, W] in [-1, 1]. */
public final class VaeDecoder implements AutoCloseable {

    static final String INPUT = "latent_sample";
    static final String OUTPUT = "sample";

    private final ModelSession model;
    private final OnnxJavaType inputType;
    private final int channels;
    private final String outputName;

    private VaeDecoder(ModelSession model, OnnxJavaType inputType, int channels, String outputName) {
        this.model = model;
        this.inputType = inputType;
        this.channels = channels;
        this.outputName = outputName;
    }

    public static VaeDecoder load(ModelSession model, int expectedChannels) {
        TensorInfo in = model.input(INPUT);
        long[] shape = in.getShape();
        if (!Tensors.isFloat(in) || shape.length != 4 || (shape[1] > 0 && shape[1] != expectedChannels)) {
            throw new ModelLoadException(model.file() + ": input '" + INPUT + "' is " + in.type + " "
                    + Tensors.describe(shape) + ", expected float [batch, " + expectedChannels + ", height, width]"
                    + " (the UNet's latent channels)");
        }
        String output = model.outputs().containsKey(OUTPUT) ? OUTPUT : model.outputs().keySet().iterator().next();
        TensorInfo out = model.output(output);
        if (out.getShape().length != 4 || (out.getShape()[1] > 0 && out.getShape()[1] != 3)) {
            throw new ModelLoadException(model.file() + ": output '" + output + "' is " + Tensors.describe(out.getShape())
                    + ", expected [batch, 3, height, width]");
        }
        return new VaeDecoder(model, in.type, expectedChannels, output);
    }

    /** The output's fixed pixel height, or -1 when dynamic. */
    public int outputHeight() {
        return (int) model.output(outputName).getShape()[2];
    }

    /** Decodes rows of latents (already divided by the scaling factor) to rows·3·H·W pixels in about [-1, 1]. */
    public float[] decode(float[] latents, int rows, int height, int width) throws OrtException {
        try (OnnxTensor in = Tensors.floats(model.environment(), latents, new long[] {rows, channels, height, width}, inputType);
             OrtSession.Result r = model.run(Map.of(INPUT, in))) {
            return Tensors.readFloats(r, outputName);
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
