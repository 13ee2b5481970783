package dev.winnow.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.platform.Fp16Conversions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;

/**
 * A direct, native-order buffer for one tensor, in the element type its graph declares
 * (FLOAT, FLOAT16 or INT64), from which tensors of any shape that fits are made without a copy:
 * ONNX Runtime reads inputs from it and writes pinned outputs into it. Floats written to a
 * FLOAT16 buffer are converted on the way in, and read back as floats on the way out, with
 * ONNX Runtime's own conversions (so the values are those its tensors would hold). Not
 * thread-safe; tensors made from it are valid until it grows.
 */
public final class TensorBuffer {

    private final OnnxJavaType type;
    private int capacity;
    private FloatBuffer floats;
    private ShortBuffer halves;
    private LongBuffer longs;

    /** @param type FLOAT, FLOAT16 or INT64 */
    public TensorBuffer(OnnxJavaType type) {
        if (type != OnnxJavaType.FLOAT && type != OnnxJavaType.FLOAT16 && type != OnnxJavaType.INT64) {
            throw new IllegalArgumentException("a tensor buffer holds FLOAT, FLOAT16 or INT64, not " + type);
        }
        this.type = type;
    }

    public OnnxJavaType type() {
        return type;
    }

    /**
     * Makes room for {@code elements}; a larger buffer replaces the old one (its contents lost, and
     * tensors made from it must be made again).
     *
     * @return whether the buffer was replaced
     */
    public boolean ensure(int elements) {
        if (elements <= capacity && capacity > 0) {
            return false;
        }
        int size = Math.max(elements, 1);
        ByteBuffer bytes = ByteBuffer.allocateDirect(size * type.size).order(ByteOrder.nativeOrder());
        switch (type) {
            case FLOAT -> floats = bytes.asFloatBuffer();
            case FLOAT16 -> halves = bytes.asShortBuffer();
            default -> longs = bytes.asLongBuffer();
        }
        capacity = size;
        return true;
    }

    /** A tensor of {@code shape} over the buffer's first elements (a scalar for an empty shape); the caller closes it. */
    public OnnxTensor tensor(OrtEnvironment env, long[] shape) throws OrtException {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        if (count > capacity) {
            throw new IllegalArgumentException("shape " + Tensors.describe(shape) + " needs " + count
                    + " elements, the buffer holds " + capacity);
        }
        int n = (int) count;
        return switch (type) {
            case FLOAT -> OnnxTensor.createTensor(env, floats.duplicate().position(0).limit(n), shape);
            case FLOAT16 -> OnnxTensor.createTensor(env, halves.duplicate().position(0).limit(n), shape, OnnxJavaType.FLOAT16);
            default -> OnnxTensor.createTensor(env, longs.duplicate().position(0).limit(n), shape);
        };
    }

    /** A read-only view of a FLOAT buffer's elements from 0 (absolute reads), or null for another type. */
    public FloatBuffer floatView() {
        return type == OnnxJavaType.FLOAT ? floats.asReadOnlyBuffer() : null;
    }

    /** Writes {@code len} floats from {@code src[off..]} at element {@code at} (converted for FLOAT16). */
    public void putFloats(int at, float[] src, int off, int len) {
        switch (type) {
            case FLOAT -> floats.put(at, src, off, len);
            case FLOAT16 -> {
                for (int i = 0; i < len; i++) {
                    halves.put(at + i, Fp16Conversions.floatToFp16(src[off + i]));
                }
            }
            default -> throw new IllegalStateException("not a float buffer: " + type);
        }
    }

    /** Writes values already in fp16 (a FLOAT16 buffer only). */
    public void putHalves(int at, short[] src, int off, int len) {
        if (type != OnnxJavaType.FLOAT16) {
            throw new IllegalStateException("not an fp16 buffer: " + type);
        }
        halves.put(at, src, off, len);
    }

    /** Writes one value: a float (converted for FLOAT16) or, for INT64, its integer part. */
    public void put(int at, float value, long integer) {
        switch (type) {
            case FLOAT -> floats.put(at, value);
            case FLOAT16 -> halves.put(at, Fp16Conversions.floatToFp16(value));
            default -> longs.put(at, integer);
        }
    }

    /** Copies {@code len} elements from element {@code from} to element {@code to} (no overlap). */
    public void copyWithin(int from, int to, int len) {
        switch (type) {
            case FLOAT -> floats.put(to, floats, from, len);
            case FLOAT16 -> halves.put(to, halves, from, len);
            default -> longs.put(to, longs, from, len);
        }
    }

    /** Reads {@code len} elements from element {@code at} as floats into {@code dst[off..]}. */
    public void getFloats(int at, float[] dst, int off, int len) {
        switch (type) {
            case FLOAT -> floats.get(at, dst, off, len);
            case FLOAT16 -> {
                for (int i = 0; i < len; i++) {
                    dst[off + i] = Fp16Conversions.fp16ToFloat(halves.get(at + i));
                }
            }
            default -> throw new IllegalStateException("not a float buffer: " + type);
        }
    }

    /** Floats converted to fp16 once, as a FLOAT16 tensor would hold them. */
    public static short[] toHalf(float[] values) {
        short[] out = new short[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Fp16Conversions.floatToFp16(values[i]);
        }
        return out;
    }
}
