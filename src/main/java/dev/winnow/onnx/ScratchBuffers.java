package dev.winnow.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Direct buffers for input tensors that live for one model call, kept per thread and reused.
 * ONNX Runtime takes a direct buffer in native order as the tensor's memory (no copy), whereas a
 * heap array is copied into a direct buffer made for that call: for a judge's batch of 224²
 * images (4.8 MB at 8 images) that fresh buffer cost about 12 ms on this machine, most of it
 * the kernel handing out and zeroing new pages, against 35 ms for the model itself. A reused
 * buffer's pages are already there.
 *
 * <p>The rule that makes reuse safe: a buffer is this thread's for its key, so the tensor made
 * on it must be closed before the thread asks for the same key again (every caller makes the
 * tensor, runs the model and closes it in one method). Each buffer grows to the largest batch
 * it has held and is kept while its thread lives (the engine's few finishing threads) and its
 * key does: keys are held weakly, so a judge replaced by a new version takes its buffers with it.
 */
public final class ScratchBuffers {

    private static final ThreadLocal<Map<Object, FloatBuffer>> BUFFERS = ThreadLocal.withInitial(WeakHashMap::new);

    private ScratchBuffers() {
    }

    /**
     * This thread's buffer for {@code key} with room for {@code floats} values: position 0, limit
     * {@code floats}, native order, direct; its contents are whatever the last use left.
     */
    public static FloatBuffer floats(Object key, int floats) {
        Map<Object, FloatBuffer> mine = BUFFERS.get();
        FloatBuffer b = mine.get(key);
        if (b == null || b.capacity() < floats) {
            b = ByteBuffer.allocateDirect(Math.multiplyExact(floats, Float.BYTES)).order(ByteOrder.nativeOrder()).asFloatBuffer();
            mine.put(key, b);
        }
        b.clear();
        b.limit(floats);
        return b;
    }
}
