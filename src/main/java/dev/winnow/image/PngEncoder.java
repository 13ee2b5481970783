package dev.winnow.image;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
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
        ByteArrayOutputStream out = new ByteArrayOutputStream(image.rgb().length / 2 + 256);
        out.writeBytes(SIGNATURE);
        byte[] ihdr = new byte[13];
        putInt(ihdr, 0, image.width());
        putInt(ihdr, 4, image.height());
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 2;   // colour type: truecolour RGB
        chunk(out, "IHDR", ihdr);
        for (Map.Entry<String, String> e : text.entrySet()) {
            textChunk(out, e.getKey(), e.getValue());
        }
        chunk(out, "IDAT", compress(image));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static byte[] compress(RgbImage image) {
        int stride = image.width() * 3;
        byte[] raw = new byte[(stride + 1) * image.height()];
        byte[] px = image.rgb();
        for (int y = 0; y < image.height(); y++) {
            int row = y * (stride + 1);
            raw[row] = 1; // filter "Sub": cheap and good for flat synthetic images
            for (int i = 0; i < stride; i++) {
                int left = i >= 3 ? px[y * stride + i - 3] : 0;
                raw[row + 1 + i] = (byte) (px[y * stride + i] - left);
            }
        }
        Deflater deflater = new Deflater(6);
        try {
            deflater.setInput(raw);
            deflater.finish();
            ByteArrayOutputStream z = new ByteArrayOutputStream(raw.length / 2 + 64);
            byte[] buf = new byte[16384];
            while (!deflater.finished()) {
                z.write(buf, 0, deflater.deflate(buf));
            }
            return z.toByteArray();
        } finally {
            deflater.end();
        }
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
