package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** A job's life: every allowed move, and only those. */
class JobStateTest {

    static final Set<JobState> ENDS_BY_ANYONE = EnumSet.of(JobState.CANCELLED, JobState.EXPIRED, JobState.FAILED);

    /** The forward moves, as DESIGN.md draws a request's flow; any state before an end may also be ended. */
    static final Map<JobState, Set<JobState>> FORWARD = Map.of(
            JobState.QUEUED, EnumSet.of(JobState.ENCODING),
            JobState.ENCODING, EnumSet.of(JobState.DENOISING),
            JobState.DENOISING, EnumSet.of(JobState.WAITING_FOR_PREVIEWS, JobState.WAITING_TO_FINISH),
            JobState.WAITING_FOR_PREVIEWS, EnumSet.of(JobState.DENOISING),
            JobState.WAITING_TO_FINISH, EnumSet.of(JobState.FINISHING),
            JobState.FINISHING, EnumSet.of(JobState.ANSWERED));

    @Test
    void everyMoveIsAllowedExactlyWhenTheLifeOfAJobHasIt() {
        for (JobState from : JobState.values()) {
            for (JobState to : JobState.values()) {
                boolean expected = !from.isTerminal()
                        && (ENDS_BY_ANYONE.contains(to) || FORWARD.getOrDefault(from, Set.of()).contains(to));
                assertEquals(expected, from.canMoveTo(to), from + " -> " + to);
            }
        }
    }

    @Test
    void theEndsAreFinalAndOnlyTheyAre() {
        assertEquals(EnumSet.of(JobState.ANSWERED, JobState.CANCELLED, JobState.EXPIRED, JobState.FAILED),
                EnumSet.copyOf(List.of(JobState.values()).stream().filter(JobState::isTerminal).toList()));
    }

    @Test
    void howAFutureWasCompletedNamesTheEnd() {
        assertEquals(JobState.ANSWERED, JobState.endOf(null));
        assertEquals(JobState.ANSWERED, JobState.endOf(new NoSafeCandidateException(List.of())), "a judged refusal is an answer");
        assertEquals(JobState.CANCELLED, JobState.endOf(new CancellationException()));
        assertEquals(JobState.EXPIRED, JobState.endOf(new CompletionException(new DeadlineExceededException("late"))));
        assertEquals(JobState.FAILED, JobState.endOf(new NotReadyException("drained")));
        assertEquals(JobState.FAILED, JobState.endOf(new GenerationFailedException("the UNet call failed", null)));
    }

    @Test
    void whereAJobIsReadsAsBefore() {
        assertEquals("waiting in the queue", JobState.QUEUED.description());
        assertEquals("waiting to be judged", JobState.WAITING_TO_FINISH.description());
        assertEquals("being judged", JobState.FINISHING.description());
    }

    static EngineJob job() {
        GenerationRequest r = new GenerationRequest("a red circle", "", 1, 2, 5.0, 1, 64, 64, "ddim", false, Map.of(),
                System.nanoTime() + 60_000_000_000L);
        return new EngineJob(r, 1, JobEvents.NONE, null);
    }

    @Test
    void aJobMovesOnlyAlongItsLifeAndItsAnswerEndsIt() {
        EngineJob j = job();
        assertEquals(JobState.QUEUED, j.state());
        assertTrue(j.moveTo(JobState.ENCODING));
        assertThrows(IllegalStateException.class, () -> j.moveTo(JobState.FINISHING), "skipping stages is a bug");
        assertTrue(j.moveTo(JobState.DENOISING));
        j.future.cancel(true);
        assertEquals(JobState.CANCELLED, j.state());
        assertFalse(j.moveTo(JobState.WAITING_TO_FINISH), "an answered job is moved no further");
        assertEquals(JobState.CANCELLED, j.state());

        EngineJob late = job();
        late.future.completeExceptionally(new DeadlineExceededException("late"));
        assertEquals(JobState.EXPIRED, late.state());
    }
}
