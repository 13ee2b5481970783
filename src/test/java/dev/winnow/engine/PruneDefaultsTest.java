package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** How a request's prune object is read against the server's defaults (shared by the service and the simulator). */
class PruneDefaultsTest {

    static final Prune.Defaults SERVER = new Prune.Defaults(0.2, 0.25, 0.05, 0.4, 0.25);

    @Test
    void anEmptyPruneObjectAsksForTheServersStrategyStagesAndMarginIncluded() {
        Prune p = SERVER.resolve(new Prune.Spec(null, null, null, null), 8, 20);
        assertEquals(SERVER.forN(8), p);
        assertEquals(new Prune(0.2, 2, 0.05, new Prune(0.4, 2)), p);
    }

    @Test
    void fieldsLeftOutOfAFirstDecisionTakeTheServersAtAndKeepShareAndNoMargin() {
        assertEquals(new Prune(0.2, 3, 0, null), SERVER.resolve(new Prune.Spec(null, 3, null, null), 8, 20));
        assertEquals(new Prune(0.5, 2, 0, null), SERVER.resolve(new Prune.Spec(0.5, null, null, null), 8, 20));
        assertNull(SERVER.resolve(new Prune.Spec(0.5, 2, 0.1, null), 8, 20).then());
    }

    @Test
    void aLaterDecisionWithoutItsOwnAtIsRefusedNamingItsPath() {
        Prune.InvalidField e = assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(0.2, 4, null, new Prune.Spec(null, 1, null, null)), 8, 20));
        assertEquals("prune.then.at", e.field());
    }

    @Test
    void aLaterDecisionThatRoundsToTheSameStepIsRefused() {
        Prune.InvalidField e = assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(0.2, 4, null, new Prune.Spec(0.22, 1, null, null)), 8, 10));
        assertEquals("prune.then.at", e.field());
    }

    @Test
    void keepingEveryCandidateOrNoneIsRefusedNamingKeep() {
        assertEquals("prune.keep", assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(null, 8, null, null), 8, 20)).field());
        assertEquals("prune.then.keep", assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(0.2, 4, null, new Prune.Spec(0.5, 0, null, null)), 8, 20)).field());
    }

    @Test
    void aMarginOutsideZeroToOneAndAnAtOutsideTheStepsAreRefused() {
        assertEquals("prune.margin", assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(null, null, 1.5, null), 8, 20)).field());
        assertEquals("prune.at", assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(1.0, null, null, null), 8, 20)).field());
    }

    @Test
    void pruningOneCandidateOrOneStepIsRefusedEvenWithTheServersStrategy() {
        assertEquals("prune", assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(null, null, null, null), 1, 20)).field());
        assertEquals("prune", assertThrows(Prune.InvalidField.class,
                () -> SERVER.resolve(new Prune.Spec(null, null, null, null), 8, 1)).field());
    }
}
