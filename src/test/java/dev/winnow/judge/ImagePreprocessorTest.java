package dev.winnow.judge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.winnow.image.Resize;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A judge's input, made the fast way (bytes read through a table, only where the resize
 * samples), holds exactly the floats of the plain way: every channel turned into floats one by
 * one, then resized, then normalised.
 */
class ImagePreprocessorTest {

    static RgbImage image(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 37 + (i / 3) % 11 * 7);
        }
        return new RgbImage(w, h, rgb);
    }

    /** The plain way, as the preprocessor did it before it read bytes through a table. */
    static float[] plain(JudgeManifest.ImageInput in, List<RgbImage> images) {
        float low = in.range().get(0).floatValue();
        float high = in.range().get(1).floatValue();
        int plane = in.width() * in.height();
        boolean nhwc = "NHWC".equals(in.layout());
        float[] out = new float[images.size() * 3 * plane];
        for (int b = 0; b < images.size(); b++) {
            RgbImage img = images.get(b);
            int src = img.width() * img.height();
            for (int c = 0; c < 3; c++) {
                float[] channel = new float[src];
                for (int i = 0; i < src; i++) {
                    float unit = (img.rgb()[i * 3 + c] & 0xff) / 255f;
                    channel[i] = low == 0f && high == 1f ? unit : low + (high - low) * unit;
                }
                float[] resized = "center".equals(in.crop()) ? crop(in, channel, img.width(), img.height())
                        : Resize.plane(channel, img.width(), img.height(), in.width(), in.height(), Resize.Mode.of(in.resize()));
                for (int i = 0; i < plane; i++) {
                    float v = (resized[i] - in.mean().get(c).floatValue()) / in.std().get(c).floatValue();
                    out[nhwc ? b * 3 * plane + i * 3 + c : b * 3 * plane + c * plane + i] = v;
                }
            }
        }
        return out;
    }

    static float[] crop(JudgeManifest.ImageInput in, float[] channel, int w, int h) {
        int[] size = ImagePreprocessor.coverSize(w, h, in.width(), in.height());
        int rw = size[0];
        int rh = size[1];
        float[] big = Resize.plane(channel, w, h, rw, rh, Resize.Mode.of(in.resize()));
        float[] out = new float[in.width() * in.height()];
        for (int y = 0; y < in.height(); y++) {
            System.arraycopy(big, (y + (rh - in.height()) / 2) * rw + (rw - in.width()) / 2, out, y * in.width(), in.width());
        }
        return out;
    }

    @ParameterizedTest(name = "{0} {1}x{2} -> {3}x{3} {4}, range [{5}, {6}], crop {7}")
    @CsvSource({
        "bilinear,               512, 512, 224, NCHW, 0,  1, none",
        "bilinear,               512, 512,  64, NCHW, -1, 1, none",
        "bilinear,                64,  64, 224, NHWC, 0,  1, none",
        "bilinear_align_corners, 512, 384, 224, NHWC, 0,  1, none",
        "nearest,                320, 512, 224, NCHW, 0,  255, none",
        "bicubic,                512, 512, 224, NCHW, 0,  1, center",
        "bicubic,                640, 384, 224, NCHW, 0,  1, center",
        "bicubic,                640, 427, 224, NCHW, 0,  1, center",
        "bilinear_antialias,     512, 768, 224, NCHW, -1, 1, none",
        "bilinear_antialias,      64,  64, 224, NCHW, -1, 1, none",
        "bilinear,                64,  64,  64, NCHW, -1, 1, none"})
    void theFastWayGivesExactlyThePlainWaysFloats(String resize, int w, int h, int size, String layout, double low,
                                                  double high, String crop) {
        JudgeManifest.ImageInput in = new JudgeManifest.ImageInput("x", layout, size, size, resize, List.of(low, high),
                List.of(0.48, 0.45, 0.40), List.of(0.26, 0.26, 0.27), "float32", crop);
        List<RgbImage> images = List.of(image(w, h), image(w, h));
        assertArrayEquals(plain(in, images), new ImagePreprocessor(in).batch(images), 0f);
    }

    @Test
    void theBufferAJudgeReadsHoldsTheBatchsValuesMadeInParallelOrReusedFromTheJudgeBefore() {
        // 8 images at 224² are made an image per task, each copied into the buffer by its task;
        // the second judge with the same spec reuses the first one's values
        JudgeManifest.ImageInput in = new JudgeManifest.ImageInput("x", "NHWC", 224, 224, "bilinear_align_corners",
                List.of(0.0, 1.0), List.of(0.0, 0.0, 0.0), List.of(1.0, 1.0, 1.0), "float32", null);
        List<RgbImage> images = new ArrayList<>();
        for (int b = 0; b < 8; b++) {
            RgbImage base = image(512, 512);
            byte[] rgb = base.rgb().clone();
            rgb[b * 9_999] ^= (byte) (b + 1); // each image its own
            images.add(new RgbImage(512, 512, rgb));
        }
        float[] expected = plain(in, images);
        for (ImagePreprocessor judge : List.of(new ImagePreprocessor(in), new ImagePreprocessor(in))) {
            FloatBuffer buffer = ByteBuffer.allocateDirect((expected.length + 7) * 4).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            buffer.position(7);
            judge.batchInto(images, buffer);
            float[] got = new float[expected.length];
            buffer.get(7, got);
            assertArrayEquals(expected, got, 0f);
        }
    }

    @Test
    void aCentreCropResizesTheLongSideAsTransformersDoesTruncated() {
        // transformers' get_resize_output_image_size: short side 224, long int(224 * long / short)
        assertArrayEquals(new int[] {335, 224}, ImagePreprocessor.coverSize(640, 427, 224, 224));
        assertArrayEquals(new int[] {224, 335}, ImagePreprocessor.coverSize(427, 640, 224, 224));
        assertArrayEquals(new int[] {224, 336}, ImagePreprocessor.coverSize(512, 768, 224, 224));
        assertArrayEquals(new int[] {224, 224}, ImagePreprocessor.coverSize(64, 64, 224, 224));
    }
}
