package dev.winnow.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.winnow.image.RgbImage;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/**
 * docs/DETERMINISM.md's promise as an assertion. The same request gives the same image whatever
 * N, batch split or neighbours: on the CPU pixel for pixel (what the document measured), on a
 * GPU within at most 2/255 per channel (cuDNN and cuBLAS may pick other kernels for other batch
 * sizes). Tests that check determinism go through here, so they hold, and mean the same, on
 * either kind of machine.
 */
public final class Determinism {

    /** The documented GPU tolerance, in 8-bit levels per channel. */
    public static final int GPU_TOLERANCE = 2;

    private Determinism() {
    }

    /** The tolerance the documents promise on a device ({@code cpu} or {@code cuda}, as OnnxSessions names it). */
    public static int tolerance(String device) {
        return "cuda".equals(device) ? GPU_TOLERANCE : 0;
    }

    /** Two images of the same request on {@code device} are the same image within the documented tolerance. */
    public static void assertSameImage(String device, RgbImage expected, RgbImage actual, String what) {
        assertEquals(expected.width() + "x" + expected.height(), actual.width() + "x" + actual.height(), what + ": size");
        int worst = maxChannelDifference(expected, actual);
        int allowed = tolerance(device);
        if (worst > allowed) {
            fail(what + ": pixels differ by up to " + worst + "/255 on " + device + "; DETERMINISM.md promises at most "
                    + allowed + "/255 there");
        }
    }

    /** The same for two PNG files (as the service returns them): byte for byte on the CPU. */
    public static void assertSameImage(String device, byte[] expectedPng, byte[] actualPng, String what) {
        if (tolerance(device) == 0) {
            assertArrayEquals(expectedPng, actualPng, what + ": the PNG files differ on " + device);
            return;
        }
        assertSameImage(device, decode(expectedPng), decode(actualPng), what);
    }

    /** The largest difference of one channel of one pixel, in 8-bit levels. */
    public static int maxChannelDifference(RgbImage a, RgbImage b) {
        int worst = 0;
        for (int i = 0; i < a.rgb().length; i++) {
            worst = Math.max(worst, Math.abs((a.rgb()[i] & 0xff) - (b.rgb()[i] & 0xff)));
        }
        return worst;
    }

    public static RgbImage decode(byte[] png) {
        try {
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
            byte[] rgb = new byte[img.getWidth() * img.getHeight() * 3];
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    int v = img.getRGB(x, y);
                    int i = (y * img.getWidth() + x) * 3;
                    rgb[i] = (byte) (v >> 16);
                    rgb[i + 1] = (byte) (v >> 8);
                    rgb[i + 2] = (byte) v;
                }
            }
            return new RgbImage(img.getWidth(), img.getHeight(), rgb);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
