package dev.winnow.testing;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.winnow.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** The determinism assertion itself: it passes only within the documented tolerance of each device. */
class DeterminismTest {

    static RgbImage grey(int level, int changedPixelLevel) {
        byte[] rgb = new byte[4 * 4 * 3];
        java.util.Arrays.fill(rgb, (byte) level);
        rgb[17] = (byte) changedPixelLevel;
        return new RgbImage(4, 4, rgb);
    }

    @Test
    void onTheCpuOnlyIdenticalPixelsPass() {
        assertDoesNotThrow(() -> Determinism.assertSameImage("cpu", grey(100, 100), grey(100, 100), "same"));
        assertThrows(AssertionFailedError.class, () -> Determinism.assertSameImage("cpu", grey(100, 100), grey(100, 101), "1/255"));
    }

    @Test
    void onAGpuTwoLevelsPassAndThreeFail() {
        assertDoesNotThrow(() -> Determinism.assertSameImage("cuda", grey(100, 100), grey(100, 102), "2/255"));
        assertDoesNotThrow(() -> Determinism.assertSameImage("cuda", grey(100, 100), grey(100, 98), "-2/255"));
        assertThrows(AssertionFailedError.class, () -> Determinism.assertSameImage("cuda", grey(100, 100), grey(100, 103), "3/255"));
    }

    @Test
    void imagesOfDifferentSizesAreNeverTheSame() {
        assertThrows(AssertionFailedError.class, () -> Determinism.assertSameImage("cuda", grey(0, 0),
                new RgbImage(2, 2, new byte[12]), "size"));
    }

    @Test
    void pngFilesAreComparedByTheirPixels() {
        RgbImage a = grey(50, 50);
        byte[] png = dev.winnow.image.PngEncoder.encode(a, java.util.Map.of());
        assertDoesNotThrow(() -> Determinism.assertSameImage("cpu", png, png, "png"));
        byte[] other = dev.winnow.image.PngEncoder.encode(grey(50, 53), java.util.Map.of());
        assertThrows(AssertionFailedError.class, () -> Determinism.assertSameImage("cuda", png, other, "png 3/255"));
    }
}
