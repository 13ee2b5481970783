package dev.winnow.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model call that takes far longer than any test waits: {@code y = x·x·x·…} as a chain of
 * {@code nodes} MatMul nodes over a {@code side}×{@code side} input, so ONNX Runtime checks
 * its terminate flag between short nodes. Written as ONNX protobuf here (no Python needed).
 */
public final class SlowModel implements AutoCloseable {

    private final ModelSession session;
    private final int side;

    private SlowModel(ModelSession session, int side) {
        this.session = session;
        this.side = side;
    }

    /** A chain of {@code nodes} MatMuls of {@code side}×{@code side} floats, opened in {@code sessions}. */
    public static SlowModel open(OnnxSessions sessions, int side, int nodes) throws IOException {
        Path file = Files.createTempFile("winnow-slow-", ".onnx");
        file.toFile().deleteOnExit();
        Files.write(file, matMulChain(side, nodes));
        return new SlowModel(sessions.open(file), side);
    }

    /** Runs the whole chain on zeros (denormal-free, so its speed does not depend on values). */
    public void run() throws OrtException {
        try (OnnxTensor x = OnnxTensor.createTensor(session.environment(), FloatBuffer.wrap(new float[side * side]),
                new long[] {side, side});
             OrtSession.Result r = session.run(Map.of("x", x))) {
            r.get(0);
        }
    }

    @Override
    public void close() {
        session.close();
    }

    static byte[] matMulChain(int side, int nodes) {
        Proto graph = new Proto();
        String previous = "x";
        for (int i = 0; i < nodes; i++) {
            String out = i == nodes - 1 ? "y" : "h" + i;
            graph.message(1, new Proto().string(1, previous).string(1, "x").string(2, out).string(3, "mm" + i)
                    .string(4, "MatMul"));
            previous = out;
        }
        graph.string(2, "slow").message(11, valueInfo("x", side)).message(12, valueInfo("y", side));
        return new Proto().varint(1, 8).string(2, "winnow-tests").message(7, graph)
                .message(8, new Proto().varint(2, 17)).bytes();
    }

    private static Proto valueInfo(String name, int side) {
        Proto shape = new Proto().message(1, new Proto().varint(1, side)).message(1, new Proto().varint(1, side));
        Proto tensor = new Proto().varint(1, 1 /* FLOAT */).message(2, shape);
        return new Proto().string(1, name).message(2, new Proto().message(1, tensor));
    }

    /** Just enough protobuf encoding for an ONNX ModelProto: varints, strings and nested messages. */
    private static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long value) {
            writeVarint((long) field << 3);
            writeVarint(value);
            return this;
        }

        Proto string(int field, String value) {
            return lengthDelimited(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto value) {
            return lengthDelimited(field, value.bytes());
        }

        byte[] bytes() {
            return out.toByteArray();
        }

        private Proto lengthDelimited(int field, byte[] value) {
            writeVarint(((long) field << 3) | 2);
            writeVarint(value.length);
            out.write(value, 0, value.length);
            return this;
        }

        private void writeVarint(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }
    }
}
