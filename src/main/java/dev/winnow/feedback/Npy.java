package dev.winnow.feedback;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;

/**
 * NumPy's {@code .npy} format, version 1.0, for little-endian float32 arrays in C order: what
 * {@code numpy.load} reads with no other library. The header is the magic string, the version,
 * a two-byte length and a Python dict literal, padded with spaces to a multiple of 64 bytes and
 * ended with a newline (numpy's own alignment).
 */
final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};

    private Npy() {
    }

    /** Writes {@code values} (their count must be the shape's product) as a float32 array of {@code shape}. */
    static void writeFloat32(OutputStream out, List<Integer> shape, float[] values) throws IOException {
        long count = shape.stream().mapToLong(Integer::longValue).reduce(1, (a, b) -> a * b);
        if (count != values.length) {
            throw new IllegalArgumentException("shape " + shape + " holds " + count + " values, got " + values.length);
        }
        String dims = shape.stream().map(String::valueOf).collect(Collectors.joining(", "));
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + (shape.size() == 1 ? "," : "") + "), }";
        int unpadded = MAGIC.length + 2 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        out.write(MAGIC);
        out.write(header.length() & 0xff);
        out.write(header.length() >>> 8);
        out.write(header.getBytes(StandardCharsets.US_ASCII));
        ByteBuffer data = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        data.asFloatBuffer().put(values);
        out.write(data.array());
    }
}
