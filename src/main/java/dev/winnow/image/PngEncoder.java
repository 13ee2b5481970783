package dev.winnow.image;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * A small PNG writer (RGB, 8 bits, no interlace) that also stores text chunks, so a saved
 * image carries the settings that made it (AUTOMATIC1111's {@code parameters} chunk).
 * Same pixels and text in → same bytes out (fixed filter and compression level).
 */
public final class PngEncoder {

    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private PngEncoder() {
    }

    /**
     * @param text keyword → value pairs written as {@code tEXt} (Latin-1) or, when the value
     *             needs it, {@code iTXt} (UTF-8) chunks, in the map's iteration order
     */
    public static byte[] encode(RgbImage image, Map<String, String> text) {
        ByteArrayOutputStream head = new ByteArrayOutputStream(256);
        head.writeBytes(SIGNATURE);
        byte[] ihdr = new byte[13];
        putInt(ihdr, 0, image.width());
        putInt(ihdr, 4, image.height());
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 2;   // colour type: truecolour RGB
        chunk(head, "IHDR", ihdr);
        for (Map.Entry<String, String> e : text.entrySet()) {
            textChunk(head, e.getKey(), e.getValue());
        }
        // The compressed pixels go straight into the file's own array, behind the head and the IDAT
        // chunk's length and type; one copy at the end trims it to size.
        byte[] raw = filtered(image);
        int start = head.size() + 8;
        byte[] png = new byte[start + raw.length / 2 + 1024];
        System.arraycopy(head.toByteArray(), 0, png, 0, head.size());
        int end = start;
        Deflater deflater = new Deflater(6);
        try {
            deflater.setInput(raw);
            deflater.finish();
            while (!deflater.finished()) {
                if (end == png.length) {
                    png = Arrays.copyOf(png, png.length + png.length / 2);
                }
                end += deflater.deflate(png, end, png.length - end);
            }
        } finally {
            deflater.end();
        }
        int dataLength = end - start;
        putInt(png, start - 8, dataLength);
        System.arraycopy(IDAT, 0, png, start - 4, 4);
        CRC32 crc = new CRC32();
        crc.update(png, start - 4, dataLength + 4);
        png = Arrays.copyOf(png, end + 4 + IEND.length);
        putInt(png, end, (int) crc.getValue());
        System.arraycopy(IEND, 0, png, end + 4, IEND.length);
        return png;
    }

    private static final byte[] IDAT = "IDAT".getBytes(StandardCharsets.US_ASCII);
    /** The empty IEND chunk: length 0, type, CRC. */
    private static final byte[] IEND = {0, 0, 0, 0, 'I', 'E', 'N', 'D', (byte) 0xAE, 0x42, 0x60, (byte) 0x82};

    /** The scanlines, each behind its filter byte ("Sub": cheap and good for flat synthetic images). */
    private static byte[] filtered(RgbImage image) {
        int stride = image.width() * 3;
        byte[] raw = new byte[(stride + 1) * image.height()];
        byte[] px = image.rgb();
        for (int y = 0; y < image.height(); y++) {
            int row = y * (stride + 1);
            int src = y * stride;
            raw[row] = 1;
            for (int i = 0; i < stride; i++) {
                int left = i >= 3 ? px[src + i - 3] : 0;
                raw[row + 1 + i] = (byte) (px[src + i] - left);
            }
        }
        return raw;
    }

    private static void textChunk(ByteArrayOutputStream out, String keyword, String value) {
        boolean latin1 = value.chars().allMatch(c -> c < 256 && c != 0);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(keyword.getBytes(StandardCharsets.ISO_8859_1));
        body.write(0);
        if (latin1) {
            body.writeBytes(value.getBytes(StandardCharsets.ISO_8859_1));
            chunk(out, "tEXt", body.toByteArray());
        } else {
            body.write(0); // compression flag: uncompressed
            body.write(0); // compression method
            body.write(0); // empty language tag
            body.write(0); // empty translated keyword
            body.writeBytes(value.getBytes(StandardCharsets.UTF_8));
            chunk(out, "iTXt", body.toByteArray());
        }
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] len = new byte[4];
        putInt(len, 0, data.length);
        out.writeBytes(len);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        byte[] c = new byte[4];
        putInt(c, 0, (int) crc.getValue());
        out.writeBytes(c);
    }

    private static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }
}
