package dev.winnow.api;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.engine.WinnowConfig;
import org.junit.jupiter.api.Test;

/** Configured request defaults that no request could use stop the service at startup, naming the key. */
class RequestDefaultsTest {

    record Defaults(int n, int steps, double guidanceScale, String scheduler) implements WinnowConfig.Defaults {
    }

    @Test
    void anUnknownDefaultSchedulerIsAStartupErrorNamingTheKey() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> RequestValidator.checkDefaults(new Defaults(4, 20, 5.0, "karras")));
        assertTrue(e.getMessage().contains("winnow.defaults.scheduler") && e.getMessage().contains("karras"), e.getMessage());
    }

    @Test
    void aDefaultGuidanceScaleOutOfBoundsIsAStartupError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> RequestValidator.checkDefaults(new Defaults(4, 20, 31, "ddim")));
        assertTrue(e.getMessage().contains("winnow.defaults.guidance-scale"), e.getMessage());
    }

    @Test
    void everySchedulerNameIsAValidDefaultInAnyCase() {
        for (String name : new String[] {"ddim", "euler", "euler_a", "dpmpp_2m", "lcm", "DPMPP_2M"}) {
            assertDoesNotThrow(() -> RequestValidator.checkDefaults(new Defaults(4, 20, 5.0, name)));
        }
    }
}
