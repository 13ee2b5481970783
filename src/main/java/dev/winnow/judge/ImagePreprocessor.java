package dev.winnow.judge;

import dev.winnow.image.Resize;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.onnx.ScratchBuffers;
import java.nio.FloatBuffer;
import java.lang.ref.WeakReference;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
    /** Everything that decides the values: judges with equal specs take the same input. */
    private final Spec spec;

    private record Spec(int width, int height, boolean nhwc, Resize.Mode resize, boolean centerCrop, float low, float high,
                        List<Float> mean, List<Float> std) {
    }

    /**
     * Each thread's last batch per spec (the finishing threads'): its values, in an array kept to
     * the largest batch it held, and which images they are of (weakly: the memo keeps no image
     * alive). The scorers that take the same input (the scenes verifier and the aesthetic judge:
     * 64², bilinear, [-1, 1]) judge the same images one after the other on one thread, so the
     * second reads the first one's batch instead of resizing again.
     */
    private static final ThreadLocal<Map<Spec, Filled>> FILLED = ThreadLocal.withInitial(HashMap::new);

    private record Filled(List<WeakReference<RgbImage>> images, float[] values) {
        boolean holds(List<RgbImage> batch) {
            if (batch.size() != images.size()) {
                return false;
            }
            for (int i = 0; i < batch.size(); i++) {
                if (images.get(i).get() != batch.get(i)) {
                    return false;
                }
            }
            return true;
        }
    }
    /** Mean 0 and standard deviation 1 for every channel: normalising changes nothing. */
    private final boolean identityNormalisation;
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
        this.spec = new Spec(width, height, nhwc, resize, centerCrop, low, high,
                List.of(mean[0], mean[1], mean[2]), List.of(std[0], std[1], std[2]));
        boolean identity = true;
        for (int c = 0; c < 3; c++) {
            identity &= mean[c] == 0f && std[c] == 1f;
        }
        this.identityNormalisation = identity;
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
        float[] out = new float[floats(images.size())];
        fill(images, out);
        return out;
    }

    /** The values a batch of {@code images} has: {@code images × 3 × width × height}. */
    int floats(int images) {
        return images * 3 * width * height;
    }

    /**
     * The batch in this thread's reused direct buffer for this preprocessor (its judge's), for a
     * tensor that is closed before the thread asks again ({@link ScratchBuffers}).
     */
    FloatBuffer scratchBatch(List<RgbImage> images) {
        FloatBuffer into = ScratchBuffers.floats(this, floats(images.size()));
        batchInto(images, into);
        return into;
    }

    /**
     * The batch written into {@code out} from its position on (a judge's reused direct buffer,
     * which ONNX Runtime then reads in place): the same values as {@link #batch}. Made in this
     * thread's reused array first, with plain array stores, then copied in bulk (an image at a
     * time when the images are made in parallel); made once for judges with the same spec that
     * take the same images in turn ({@link #FILLED}).
     */
    void batchInto(List<RgbImage> images, FloatBuffer out) {
        int n = floats(images.size());
        Map<Spec, Filled> mine = FILLED.get();
        Filled last = mine.get(spec);
        if (last != null && last.holds(images)) {
            out.put(out.position(), last.values(), 0, n);
            return;
        }
        float[] values = last != null && last.values().length >= n ? last.values() : new float[n];
        mine.remove(spec); // its array is refilled now: no stale entry if the fill does not finish
        fill(images, values, out);
        mine.put(spec, new Filled(images.stream().map(WeakReference::new).toList(), values));
    }

    /**
     * Big batches (a safety judge's 224² input, 150,528 values an image) are made an image per
     * task on the common pool when there is more than one image, so an idle core shares the work;
     * small ones (the scorers' 64², 12,288 an image) are not worth a hand-off.
     */
    private static final int PARALLEL_FROM_VALUES = 200_000;

    private void fill(List<RgbImage> images, float[] out) {
        fill(images, out, null);
    }

    /**
     * Fills {@code out} and, when {@code copyTo} is given, copies the values into it from its
     * position on: a parallel fill copies each image's values as soon as they are made, on the
     * core that made them (while they are in its cache, and both cores copying: 4.8 MB for 8
     * images at 224²); absolute puts into disjoint ranges, so the tasks share no buffer state.
     */
    private void fill(List<RgbImage> images, float[] out, FloatBuffer copyTo) {
        int perImage = floats(1);
        int at = copyTo == null ? 0 : copyTo.position();
        if (images.size() > 1 && floats(images.size()) >= PARALLEL_FROM_VALUES) {
            java.util.stream.IntStream.range(0, images.size()).parallel().forEach(b -> {
                fill(images.get(b), out, b);
                if (copyTo != null) {
                    copyTo.put(at + b * perImage, out, b * perImage, perImage);
                }
            });
            return;
        }
        for (int b = 0; b < images.size(); b++) {
            fill(images.get(b), out, b);
        }
        if (copyTo != null) {
            copyTo.put(at, out, 0, floats(images.size()));
        }
    }

    /** Image {@code b} of a batch into its place in {@code out}. */
    private void fill(RgbImage img, float[] out, int b) {
        int plane = width * height;
        int base = b * 3 * plane;
        if (!centerCrop && !resize.convolves()) {
            // sampled from the bytes straight into the batch, all channels in one pass (no plane per
            // channel, no second loop to normalise): the same values as below; (v - 0) / 1 is v, bit
            // for bit, so identity normalisation skips the arithmetic
            Resize.sampleRgb(img.rgb(), img.width(), img.height(), width, height, resize, valueOfByte, out, base,
                    nhwc ? 3 : 1, nhwc ? 1 : plane, identityNormalisation ? null : mean, identityNormalisation ? null : std);
            return;
        }
        for (int c = 0; c < 3; c++) {
            // 0..255 onto the declared range, then resized: read through the table, and only where a
            // bilinear or nearest resize samples
            float[] resized = fit(Resize.channel(img.rgb(), c, valueOfByte), img.width(), img.height());
            for (int i = 0; i < plane; i++) {
                float v = (resized[i] - mean[c]) / std[c];
                out[nhwc ? base + i * 3 + c : base + c * plane + i] = v;
            }
        }
    }
}
