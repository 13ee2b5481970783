package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class UNetTimestepTest {

    @Test
    void anInt64GraphGetsAFractionalTimestepTruncatedAsDiffusersOnnxPipelinesDo() {
        // Euler over SD 1.5's linspace schedule gives 893.7…; np.array([t], dtype=np.int64) is 893.
        assertEquals(893, UNet.integerTimestep(893.7142857));
        assertEquals(999, UNet.integerTimestep(999.0));
        assertEquals(0, UNet.integerTimestep(0.9));
    }
}
