package dev.winnow.image;

import java.nio.FloatBuffer;
import java.util.Objects;

/**
 * An 8-bit RGB image, row-major, 3 bytes a pixel. The array is owned by the record: callers
 * must not change it after construction.
 */
public record RgbImage(int width, int height, byte[] rgb) {

    public RgbImage {
        Objects.requireNonNull(rgb, "rgb");
        if (width <= 0 || height <= 0 || rgb.length != width * height * 3) {
            throw new IllegalArgumentException("expected " + width + "x" + height + "x3 bytes, got " + rgb.length);
        }
    }

    /** Channel {@code c} (0 red, 1 green, 2 blue) of pixel (x, y), 0..255. */
    public int channel(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xff;
    }

    /**
     * Converts one image of a decoder's output (NCHW float, values in [-1, 1]) to 8-bit RGB:
     * clamp((x + 1) / 2, 0, 1) · 255, rounded half up, as diffusers' postprocessing does.
     *
     * @param chw    the whole batch output
     * @param offset where this image's 3·H·W values start
     */
    public static RgbImage fromSignedUnitChw(float[] chw, int offset, int width, int height) {
        int plane = width * height;
        byte[] out = new byte[plane * 3];
        int red = offset;
        int green = offset + plane;
        int blue = offset + 2 * plane;
        for (int i = 0, o = 0; i < plane; i++, o += 3) { // pixel by pixel: the bytes are written in order
            out[o] = toByte(chw[red + i]);
            out[o + 1] = toByte(chw[green + i]);
            out[o + 2] = toByte(chw[blue + i]);
        }
        return new RgbImage(width, height, out);
    }

    /** The same, reading the decoder's output where it lies (a direct buffer, absolute reads). */
    public static RgbImage fromSignedUnitChw(FloatBuffer chw, int offset, int width, int height) {
        int plane = width * height;
        byte[] out = new byte[plane * 3];
        int red = offset;
        int green = offset + plane;
        int blue = offset + 2 * plane;
        for (int i = 0, o = 0; i < plane; i++, o += 3) {
            out[o] = toByte(chw.get(red + i));
            out[o + 1] = toByte(chw.get(green + i));
            out[o + 2] = toByte(chw.get(blue + i));
        }
        return new RgbImage(width, height, out);
    }

    /** One value in [-1, 1]: clamp((x + 1) / 2, 0, 1) · 255, rounded half up. */
    private static byte toByte(float x) {
        float v = (x + 1f) * 0.5f;
        v = v < 0f ? 0f : (v > 1f ? 1f : v);
        return (byte) roundHalfUp(v * 255f);
    }

    /**
     * {@code Math.round(x)} for x in [0, 255] (or NaN: 0), without its branches: a float that
     * small plus 0.5 is exact in double, so truncating it is rounding half up. Checked against
     * Math.round for every float in [0, 255].
     */
    static int roundHalfUp(float x) {
        return (int) ((double) x + 0.5);
    }
}
