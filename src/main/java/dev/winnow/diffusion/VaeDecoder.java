package dev.winnow.diffusion;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.winnow.onnx.ModelLoadException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.image.RgbImage;
import dev.winnow.onnx.TensorBuffer;
import dev.winnow.onnx.Tensors;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The VAE decoder graph: {@code latent_sample} [B, C, h, w] (unscaled latents) → {@code sample} [B, 3, H, W] in [-1, 1]. */
public final class VaeDecoder implements AutoCloseable {

    static final String INPUT = "latent_sample";
    static final String OUTPUT = "sample";

    private final ModelSession model;
    private final OnnxJavaType inputType;
    private final int channels;
    private final String outputName;
    /** Each decoding thread's output buffer (grown as needed; plain memory, nothing to close). */
    private final ThreadLocal<TensorBuffer> outputs;

    private VaeDecoder(ModelSession model, OnnxJavaType inputType, int channels, String outputName, OnnxJavaType outputType) {
        this.model = model;
        this.inputType = inputType;
        this.channels = channels;
        this.outputName = outputName;
        this.outputs = ThreadLocal.withInitial(() -> new TensorBuffer(outputType));
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
        if (!Tensors.isFloat(out)) {
            throw new ModelLoadException(model.file() + ": output '" + output + "' is " + out.type + ", expected float");
        }
        return new VaeDecoder(model, in.type, expectedChannels, output, out.type);
    }

    /** The output's fixed pixel height, or -1 when dynamic. */
    public int outputHeight() {
        return (int) model.output(outputName).getShape()[2];
    }

    /**
     * Decodes rows of latents (already divided by the scaling factor) straight into 8-bit images
     * of {@code outWidth}×{@code outHeight}: the decoder writes into the calling thread's own
     * buffer, which is read once, into the images' bytes (no copy of the pixels in between).
     */
    public List<RgbImage> decodeImages(float[] latents, int rows, int height, int width, int outWidth, int outHeight)
            throws OrtException {
        TensorBuffer out = outputs.get();
        int perImage = 3 * outWidth * outHeight;
        out.ensure(rows * perImage);
        List<RgbImage> images = new ArrayList<>(rows);
        try (OnnxTensor in = Tensors.floats(model.environment(), latents, new long[] {rows, channels, height, width}, inputType);
             OnnxTensor pixels = out.tensor(model.environment(), new long[] {rows, 3, outHeight, outWidth});
             OrtSession.Result r = model.run(Map.of(INPUT, in), Map.of(outputName, pixels))) {
            FloatBuffer floats = out.floatView();
            float[] scratch = floats == null ? new float[perImage] : null; // fp16: converted image by image
            for (int i = 0; i < rows; i++) {
                if (floats != null) {
                    images.add(RgbImage.fromSignedUnitChw(floats, i * perImage, outWidth, outHeight));
                } else {
                    out.getFloats(i * perImage, scratch, 0, perImage);
                    images.add(RgbImage.fromSignedUnitChw(scratch, 0, outWidth, outHeight));
                }
            }
        }
        return images;
    }

    ModelSession model() {
        return model;
    }

    @Override
    public void close() {
        model.close();
    }
}
