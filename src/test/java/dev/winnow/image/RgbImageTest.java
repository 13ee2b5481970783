package dev.winnow.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Test;

/** A decoder's output becomes 8-bit RGB rounded half up, exactly as Math.round would round it. */
class RgbImageTest {

    @Test
    void roundingHalfUpMatchesMathRoundAcrossTheWholeByteRange() {
        // every float in [0, 255] takes seconds; one bit pattern in 61, plus the values next to each
        // .5 boundary, where a shortcut would go wrong first
        int top = Float.floatToRawIntBits(255f);
        for (int bits = 0; bits <= top; bits += 61) {
            float x = Float.intBitsToFloat(bits);
            if (Math.round(x) != RgbImage.roundHalfUp(x)) {
                fail("at " + x + ": " + Math.round(x) + " vs " + RgbImage.roundHalfUp(x));
            }
        }
        for (int k = 0; k < 255; k++) {
            float half = k + 0.5f;
            for (float x : new float[] {Math.nextDown(half), half, Math.nextUp(half)}) {
                assertEquals(Math.round(x), RgbImage.roundHalfUp(x), "at " + x);
            }
        }
        assertEquals(Math.round(Float.NaN), RgbImage.roundHalfUp(Float.NaN));
    }

    @Test
    void aDecodersOutputIsClampedAndScaledToBytes() {
        float[] chw = {-1f, 0f, 1f, 2f, -3f, 0.5f, Float.NaN, 0.002f, -0.002f, 1f, 1f, 1f};
        RgbImage img = RgbImage.fromSignedUnitChw(chw, 0, 2, 2);
        // red plane: -1 -> 0, 0 -> 128 (127.5 rounds up), 1 -> 255, 2 -> 255
        assertEquals(0, img.channel(0, 0, 0));
        assertEquals(128, img.channel(1, 0, 0));
        assertEquals(255, img.channel(0, 1, 0));
        assertEquals(255, img.channel(1, 1, 0));
        // green plane: -3 -> 0, 0.5 -> 191 (191.25), NaN -> 0, 0.002 -> 128 (127.755)
        assertEquals(0, img.channel(0, 0, 1));
        assertEquals(191, img.channel(1, 0, 1));
        assertEquals(0, img.channel(0, 1, 1));
        assertEquals(128, img.channel(1, 1, 1));
        // blue plane: -0.002 -> 127 (127.245)
        assertEquals(127, img.channel(0, 0, 2));
    }
}
