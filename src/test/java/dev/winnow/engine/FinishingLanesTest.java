package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** What a free finishing thread takes next, on plain values. */
class FinishingLanesTest {

    @Test
    void previewsGoAheadOfFinalJudgingQueuedBeforeThem() {
        FinishingLanes<String, String> lanes = new FinishingLanes<>(16);
        lanes.addFinal("A", 4);
        lanes.addFinal("B", 4);
        lanes.addPreview("C previews");
        lanes.addPreview("D previews");
        assertEquals("C previews", lanes.next(j -> true).preview());
        assertEquals("D previews", lanes.next(j -> true).preview(), "previews first come, first served");
        FinishingLanes.Taken<String, String> finals = lanes.next(j -> true);
        assertNull(finals.preview());
        assertEquals(List.of("A", "B"), finals.finals(), "then the final judging, together");
        assertTrue(lanes.next(j -> true).isEmpty());
    }

    @Test
    void finalJudgingTakesJobsInOrderUpToTheBoundInImagesAndAtLeastOne() {
        FinishingLanes<String, String> lanes = new FinishingLanes<>(8);
        lanes.addFinal("A", 12); // more than the bound: still goes, alone
        lanes.addFinal("B", 4);
        lanes.addFinal("C", 4);
        lanes.addFinal("D", 1);
        assertEquals(List.of("A"), lanes.next(j -> true).finals());
        assertEquals(List.of("B", "C"), lanes.next(j -> true).finals(), "D would make 9 images");
        assertEquals(List.of("D"), lanes.next(j -> true).finals());
    }

    @Test
    void jobsNoLongerWantedAreHandedBackAndCountNoImages() {
        FinishingLanes<String, String> lanes = new FinishingLanes<>(8);
        lanes.addFinal("A", 4);
        lanes.addFinal("gone", 8);
        lanes.addFinal("B", 4);
        FinishingLanes.Taken<String, String> t = lanes.next(j -> !j.equals("gone"));
        assertEquals(List.of("A", "B"), t.finals());
        assertEquals(List.of("gone"), t.dropped());
    }

    @Test
    void whatIsStillWaitingWhenTheEngineStopsIsHandedBack() {
        FinishingLanes<String, String> lanes = new FinishingLanes<>(8);
        lanes.addFinal("A", 1);
        lanes.addPreview("B previews");
        assertTrue(lanes.remove("A"));
        lanes.addFinal("C", 1);
        assertEquals(List.of("B previews", "C"), lanes.clear());
        assertTrue(lanes.next(j -> true).isEmpty());
    }
}
