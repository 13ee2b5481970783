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

    @ParameterizedTest
    @CsvSource({
        "512, 512, 224, 224, BILINEAR_ALIGN_CORNERS",
        "512, 512, 64, 64, BILINEAR",
        "64, 48, 224, 224, BILINEAR",
        "37, 23, 37, 11, BILINEAR",
        "30, 20, 30, 20, BILINEAR",
        "30, 20, 17, 41, NEAREST",
        "30, 20, 30, 20, NEAREST",
    })
    void allThreeChannelsSampledInOnePassAreTheValuesOfEachChannelResizedAlone(int inW, int inH, int outW, int outH,
                                                                              Resize.Mode mode) {
        byte[] rgb = new byte[inW * inH * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 31 + (i >> 5) * 7);
        }
        float[] valueOfByte = new float[256];
        for (int b = 0; b < 256; b++) {
            valueOfByte[b] = -1f + 2f * (b / 255f);
        }
        int plane = outW * outH;
        float[] nchw = new float[5 + 3 * plane];
        float[] nhwc = new float[3 * plane];
        Resize.sampleRgb(rgb, inW, inH, outW, outH, mode, valueOfByte, nchw, 5, 1, plane, null, null);
        float[] mean = {0.5f, -0.25f, 0f};
        float[] std = {2f, 0.5f, 3f};
        Resize.sampleRgb(rgb, inW, inH, outW, outH, mode, valueOfByte, nhwc, 0, 3, 1, mean, std);
        for (int c = 0; c < 3; c++) {
            float[] alone = Resize.plane(Resize.channel(rgb, c, valueOfByte), inW, inH, outW, outH, mode);
            float[] planar = new float[plane];
            float[] interleaved = new float[plane];
            float[] normalised = new float[plane];
            for (int i = 0; i < plane; i++) {
                planar[i] = nchw[5 + c * plane + i];
                interleaved[i] = nhwc[i * 3 + c];
                normalised[i] = (alone[i] - mean[c]) / std[c];
            }
            assertArrayEquals(alone, planar, 0f, "channel " + c + ", planar");
            assertArrayEquals(normalised, interleaved, 0f, "channel " + c + ", interleaved and normalised");
        }
    }
}
