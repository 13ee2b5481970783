package dev.winnow.api;

import dev.winnow.engine.CandidateResult;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.WinnowConfig;
import dev.winnow.feedback.FeedbackLedger;
import dev.winnow.feedback.GenerationIds;
import dev.winnow.feedback.ProcessPart;
import dev.winnow.judge.Verdict;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.configuration.MemorySize;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Feedback capture, when {@code winnow.feedback.dir} is set: generation ids are signed, and each
 * generation's safe candidates (the ones a person can see) are held in that folder until its pick
 * arrives, on whichever replica sharing the folder it lands ({@link FeedbackLedger}), within a
 * count and a byte budget per process, and let go by a timer once the retention has passed.
 * {@code winnow_feedback_held_bytes} shows what this process holds,
 * {@code winnow_feedback_write_failures_total} counts picks that could not be written.
 */
@ApplicationScoped
public class Feedback {

    private static final Logger LOG = Logger.getLogger(Feedback.class);
    /** What {@code winnow.feedback.max-held-bytes} is when unset: the disk each process may fill with PNGs waiting for a pick. */
    static final long DEFAULT_MAX_HELD_BYTES = 1L << 30;
    /** How long a pick's claim stands before another pick may take over from a recorder that died (writes take milliseconds). */
    static final Duration CLAIM_TIMEOUT = Duration.ofMinutes(2);

    @Inject
    WinnowConfig config;

    @Inject
    MeterRegistry registry;

    private GenerationIds ids;
    private FeedbackLedger ledger;
    private Counter writeFailures;
    private ScheduledExecutorService expiry;

    @PostConstruct
    void init() {
        WinnowConfig.Feedback f = config.feedback();
        ids = new GenerationIds(f.secret().orElse(""));
        writeFailures = Counter.builder("winnow.feedback.write.failures")
                .description("Picks that could not be written (answered 503; nothing stored, the client may retry)")
                .register(registry);
        Gauge.builder("winnow.feedback.held.bytes", this, fb -> fb.ledger == null ? 0 : fb.ledger.heldBytes())
                .description("Bytes of candidate PNGs this process holds in the feedback folder for a pick").register(registry);
        Optional<String> dir = f.dir().filter(d -> !d.isBlank());
        if (dir.isPresent()) {
            long maxHeld = f.maxHeldBytes().map(MemorySize::asLongValue).orElse(DEFAULT_MAX_HELD_BYTES);
            ledger = new FeedbackLedger(Path.of(dir.get()), ProcessPart.id(), f.retention(), f.capacity(), maxHeld,
                    CLAIM_TIMEOUT, Clock.systemUTC());
            expiry = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "winnow-feedback-expiry");
                t.setDaemon(true);
                return t;
            });
            long every = expiryPeriod(f.retention()).toMillis();
            expiry.scheduleWithFixedDelay(ledger::expire, every, every, TimeUnit.MILLISECONDS);
            LOG.infof("feedback capture on: picks go to %s (this process appends to %s); up to %d generations and "
                            + "%d MiB of images wait %s for their pick", ledger.folder().toAbsolutePath(),
                    ledger.folder().relativize(ledger.part()), f.capacity(), maxHeld >> 20, f.retention());
            String warning = secretWarning(f.secret());
            if (warning != null) {
                LOG.warn(warning);
            }
        }
    }

    /**
     * The startup warning for feedback capture without {@code winnow.feedback.secret}, or null when
     * one is set: a per-process key signs ids that no other replica (and no later start of this
     * one) verifies, so a pick that lands elsewhere is refused as forged.
     */
    static String secretWarning(Optional<String> secret) {
        if (secret.filter(s -> !s.isEmpty()).isPresent()) {
            return null;
        }
        return "feedback capture is on but winnow.feedback.secret is not set: generation ids are signed with a "
                + "random key of this process, so a pick that reaches another replica (or this one after a restart) "
                + "is refused as not issued by this service. With more than one replica, set the same secret on "
                + "every one (WINNOW_FEEDBACK_SECRET from a Kubernetes Secret: README, \"Feedback on many replicas\")";
    }

    /** A held generation is let go at most a quarter of its retention (and at most a minute) late. */
    static Duration expiryPeriod(Duration retention) {
        long ms = Math.max(100, Math.min(retention.toMillis() / 4, 60_000));
        return Duration.ofMillis(ms);
    }

    /** Created with the application, so that the metrics are there before the first request. */
    void onStart(@Observes StartupEvent event) {
        enabled();
    }

    void onStop(@Observes ShutdownEvent event) {
        if (expiry != null) {
            expiry.shutdownNow();
        }
    }

    public boolean enabled() {
        return ledger != null;
    }

    /**
     * The id a client sees: signed, and the generation held for its pick, when capture is on;
     * the engine's own id otherwise.
     *
     * @param shownImages the PNGs by candidate index that the client receives (safe candidates only)
     */
    public String publish(GenerationRequest job, GenerationResult r, Map<Integer, byte[]> shownImages) {
        if (ledger == null) {
            return r.id();
        }
        Map<Integer, FeedbackLedger.Shown> shown = new LinkedHashMap<>();
        for (CandidateResult c : r.candidates()) {
            byte[] png = shownImages.get(c.index());
            if (c.verdict() == Verdict.SAFE && png != null) {
                shown.put(c.index(), new FeedbackLedger.Shown(c.index(), c.seed(), Problems.finite(c.scores()), png));
            }
        }
        if (shown.size() < 2) {
            return ids.sign(r.id()); // nothing to choose between: no pick can name it, so nothing is held for one
        }
        Map<String, Object> settings = job.settings(job.rankingWeights());
        // not held (logged by the ledger): its pick will be a 404, the generation itself is answered as usual
        ledger.remember(new FeedbackLedger.Generation(r.id(), r.pipeline(), r.judges(), job.prompt(), job.negativePrompt(),
                settings, shown));
        return ids.sign(r.id());
    }

    /**
     * Records a pick (see {@link FeedbackLedger#record}); a write that fails is counted.
     *
     * @throws FeedbackLedger.Refused     a pick refused as it is
     * @throws FeedbackLedger.WriteFailed nothing was stored; the client may retry
     */
    void record(String uuid, int chosen, List<Integer> shown) {
        try {
            ledger.record(uuid, chosen, shown);
        } catch (FeedbackLedger.WriteFailed e) {
            writeFailures.increment();
            LOG.errorf("a pick could not be stored (the client may retry): %s", e.getMessage());
            throw e;
        }
    }

    /** The generation's uuid when the id is one this service signed, else null. */
    String verify(String id) {
        return ids.verify(id);
    }
}
