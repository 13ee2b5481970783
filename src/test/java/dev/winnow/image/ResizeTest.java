package dev.winnow.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Bilinear and nearest resizing give, bit for bit, the per-pixel formulas they are written from. */
class ResizeTest {

    /** The formulas pixel by pixel, every coordinate worked out where it is used. */
    static float[] reference(float[] src, int inW, int inH, int outW, int outH, Resize.Mode mode) {
        float[] dst = new float[outW * outH];
        for (int y = 0; y < outH; y++) {
            double sy = source(y, inH, outH, mode);
            for (int x = 0; x < outW; x++) {
                double sx = source(x, inW, outW, mode);
                if (mode == Resize.Mode.NEAREST) {
                    int ix = Math.min(inW - 1, (int) Math.floor(sx + 0.5));
                    int iy = Math.min(inH - 1, (int) Math.floor(sy + 0.5));
                    dst[y * outW + x] = src[iy * inW + ix];
                    continue;
                }
                int x0 = (int) Math.floor(sx);
                int y0 = (int) Math.floor(sy);
                double fx = sx - x0;
                double fy = sy - y0;
                int x1 = Math.min(x0 + 1, inW - 1);
                int y1 = Math.min(y0 + 1, inH - 1);
                double top = src[y0 * inW + x0] * (1 - fx) + src[y0 * inW + x1] * fx;
                double bottom = src[y1 * inW + x0] * (1 - fx) + src[y1 * inW + x1] * fx;
                dst[y * outW + x] = (float) (top * (1 - fy) + bottom * fy);
            }
        }
        return dst;
    }

    static double source(int d, int in, int out, Resize.Mode mode) {
        double s = mode == Resize.Mode.BILINEAR_ALIGN_CORNERS ? (out > 1 ? (double) d * (in - 1) / (out - 1) : 0)
                : (d + 0.5) * in / out - 0.5;
        return Math.max(0, Math.min(in - 1, s));
    }

    @ParameterizedTest(name = "{0} {1}x{2} -> {3}x{4}")
    @CsvSource({
        "BILINEAR, 512, 512, 224, 224", "BILINEAR, 64, 64, 224, 224", "BILINEAR, 512, 384, 64, 64",
        "BILINEAR_ALIGN_CORNERS, 512, 512, 224, 224", "BILINEAR_ALIGN_CORNERS, 7, 5, 1, 1",
        "NEAREST, 320, 512, 224, 224", "NEAREST, 64, 64, 300, 150"})
    void resizingGivesExactlyThePerPixelFormula(Resize.Mode mode, int inW, int inH, int outW, int outH) {
        float[] src = new float[inW * inH];
        for (int i = 0; i < src.length; i++) {
            src[i] = (float) Math.sin(i * 0.37) * 3;
        }
        assertArrayEquals(reference(src, inW, inH, outW, outH, mode), Resize.plane(src, inW, inH, outW, outH, mode), 0f);
    }
}
