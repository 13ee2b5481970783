package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** What the API checks requests against, without a model. */
class EngineCapabilitiesTest {

    static EngineCapabilities caps(int maxSteps) {
        return new EngineCapabilities("tiny", EngineCapabilities.SCHEDULERS, maxSteps,
                new EngineCapabilities.Sizes(64, 0, 0, 32, 64, 512), 32, true, Set.of("aesthetic"));
    }

    @Test
    void lcmTakesNoMoreStepsThanItsDistilledScheduleTheOthersTheConfiguredMost() {
        assertEquals(50, caps(150).maxSteps("lcm"));
        assertEquals(30, caps(30).maxSteps("lcm"));
        assertEquals(150, caps(150).maxSteps("ddim"));
    }

    @Test
    void schedulersAreNamedInAnyCase() {
        assertTrue(caps(50).offers("DDIM"));
        assertTrue(EngineCapabilities.isScheduler("Euler_A"));
        assertFalse(caps(50).offers("karras"));
        assertFalse(caps(50).offers(null));
    }
}
