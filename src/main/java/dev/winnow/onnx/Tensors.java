package dev.winnow.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import ai.onnxruntime.platform.Fp16Conversions;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/** Building input tensors in whatever element type a graph declares, and reading outputs as floats. */
public final class Tensors {

    private Tensors() {
    }

    /** Float data as a tensor of the declared type: FLOAT, or FLOAT16 (converted here). */
    public static OnnxTensor floats(OrtEnvironment env, float[] data, long[] shape, OnnxJavaType type) throws OrtException {
        return floats(env, FloatBuffer.wrap(data), shape, type);
    }

    /**
     * A buffer's values (position to limit) as a tensor of the declared type. FLOAT: a direct buffer
     * in native order (e.g. from {@link ScratchBuffers}) is the tensor's memory, a heap one is copied
     * by ONNX Runtime into a direct buffer of its own; FLOAT16 is converted here.
     */
    public static OnnxTensor floats(OrtEnvironment env, FloatBuffer data, long[] shape, OnnxJavaType type)
            throws OrtException {
        return switch (type) {
            case FLOAT -> OnnxTensor.createTensor(env, data, shape);
            case FLOAT16 -> {
                short[] half = new short[data.remaining()];
                for (int i = 0; i < half.length; i++) {
                    half[i] = Fp16Conversions.floatToFp16(data.get(data.position() + i));
                }
                yield OnnxTensor.createTensor(env, ShortBuffer.wrap(half), shape, OnnxJavaType.FLOAT16);
            }
            default -> throw new IllegalArgumentException("not a floating-point input type: " + type);
        };
    }

    /** Token ids as INT32 or INT64, whichever the graph declares. */
    public static OnnxTensor ids(OrtEnvironment env, int[] data, long[] shape, OnnxJavaType type) throws OrtException {
        return switch (type) {
            case INT32 -> OnnxTensor.createTensor(env, IntBuffer.wrap(data), shape);
            case INT64 -> OnnxTensor.createTensor(env, LongBuffer.wrap(Arrays.stream(data).asLongStream().toArray()), shape);
            default -> throw new IllegalArgumentException("not an integer input type: " + type);
        };
    }

    /** An output (FLOAT or FLOAT16) copied out as floats. */
    public static float[] readFloats(OrtSession.Result result, String name) throws OrtException {
        OnnxTensor t = (OnnxTensor) result.get(name)
                .orElseThrow(() -> new IllegalStateException("the model returned no output named '" + name + "'"));
        FloatBuffer fb = t.getFloatBuffer();
        if (fb == null) {
            throw new IllegalStateException("output '" + name + "' is " + t.getInfo().type + ", not a float tensor");
        }
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    /** An output read as floats whatever its element type: booleans as 1/0, integers as their value. */
    public static float[] readAsFloats(OrtSession.Result result, String name) throws OrtException {
        OnnxTensor t = (OnnxTensor) result.get(name)
                .orElseThrow(() -> new IllegalStateException("the model returned no output named '" + name + "'"));
        return switch (t.getInfo().type) {
            case FLOAT, FLOAT16, BFLOAT16 -> readFloats(result, name);
            case BOOL -> {
                java.nio.ByteBuffer b = t.getByteBuffer();
                float[] out = new float[b.remaining()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = b.get() != 0 ? 1f : 0f;
                }
                yield out;
            }
            case INT64 -> {
                LongBuffer l = t.getLongBuffer();
                float[] out = new float[l.remaining()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = l.get();
                }
                yield out;
            }
            default -> throw new IllegalStateException("output '" + name + "' has unsupported type " + t.getInfo().type);
        };
    }

    public static boolean isFloat(TensorInfo info) {
        return info.type == OnnxJavaType.FLOAT || info.type == OnnxJavaType.FLOAT16;
    }

    /** A shape for messages: [-1, 4, 64, 64] reads as [batch, 4, 64, 64]. */
    public static String describe(long[] shape) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            sb.append(i > 0 ? ", " : "").append(shape[i] < 0 ? "?" : String.valueOf(shape[i]));
        }
        return sb.append(']').toString();
    }
}
