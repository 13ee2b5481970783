package dev.winnow.judge;

import dev.winnow.image.Resize;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import java.util.List;

/**
 * Turns images into a judge's input tensor exactly as its {@code judge.json} says: 0..255
 * mapped onto {@code range} (float32 arithmetic, so [0, 1] is {@code p / 255f} like nsfwjs),
 * resized per channel, normalised by mean/std, laid out NCHW or NHWC.
 */
final class ImagePreprocessor {

    private final int width;
    private final int height;
    private final boolean nhwc;
    private final Resize.Mode resize;
    private final boolean centerCrop;
    private final float low;
    private final float high;
    private final float[] mean = new float[3];
    private final float[] std = new float[3];
    /** What each byte value stands for on the declared range (the same float arithmetic as one by one). */
    private final float[] valueOfByte = new float[256];

    ImagePreprocessor(JudgeManifest.ImageInput in) {
        this.width = in.width();
        this.height = in.height();
        this.nhwc = "NHWC".equals(in.layout());
        this.resize = Resize.Mode.of(in.resize());
        this.centerCrop = "center".equals(in.crop());
        this.low = in.range().get(0).floatValue();
        this.high = in.range().get(1).floatValue();
        for (int c = 0; c < 3; c++) {
            mean[c] = in.mean().get(c).floatValue();
            std[c] = in.std().get(c).floatValue();
        }
        for (int b = 0; b < 256; b++) {
            float unit = b / 255f;
            valueOfByte[b] = low == 0f && high == 1f ? unit : low + (high - low) * unit;
        }
    }

    /**
     * Stretches to the input size, or with {@code crop: center} (CLIP's preprocessing) scales
     * so the image covers it, keeping the aspect ratio, and cuts out the middle.
     */
    private float[] fit(Resize.Source channel, int w, int h) {
        if (!centerCrop) {
            return Resize.plane(channel, w, h, width, height, resize);
        }
        int[] size = coverSize(w, h, width, height);
        int rw = size[0];
        int rh = size[1];
        float[] big = Resize.plane(channel, w, h, rw, rh, resize);
        int x0 = (rw - width) / 2;
        int y0 = (rh - height) / 2;
        float[] out = new float[width * height];
        for (int y = 0; y < height; y++) {
            System.arraycopy(big, (y + y0) * rw + x0, out, y * width, width);
        }
        return out;
    }

    /**
     * The size a {@code w×h} image is resized to before its centre is cropped to
     * {@code cropW×cropH}: the side that needs the larger scale becomes the crop's exactly, the
     * other {@code int(crop · other / side)}, truncated, as transformers'
     * {@code get_resize_output_image_size} does for CLIP's {@code shortest_edge} (640×427 → 335×224,
     * where rounding would give 336 and a crop one pixel to the right).
     */
    static int[] coverSize(int w, int h, int cropW, int cropH) {
        if ((double) cropW / w >= (double) cropH / h) {
            return new int[] {cropW, Math.max(cropH, (int) ((double) cropW * h / w))};
        }
        return new int[] {Math.max(cropW, (int) ((double) cropH * w / h)), cropH};
    }

    long[] shape(int batch) {
        return nhwc ? new long[] {batch, height, width, 3} : new long[] {batch, 3, height, width};
    }

    float[] batch(List<RgbImage> images) {
        int plane = width * height;
        float[] out = new float[images.size() * 3 * plane];
        for (int b = 0; b < images.size(); b++) {
            RgbImage img = images.get(b);
            for (int c = 0; c < 3; c++) {
                // 0..255 onto the declared range, then resized: read through the table, and only
                // where a bilinear or nearest resize samples
                float[] resized = fit(Resize.channel(img.rgb(), c, valueOfByte), img.width(), img.height());
                for (int i = 0; i < plane; i++) {
                    float v = (resized[i] - mean[c]) / std[c];
                    int at = nhwc ? b * 3 * plane + i * 3 + c : b * 3 * plane + c * plane + i;
                    out[at] = v;
                }
            }
        }
        return out;
    }
}
