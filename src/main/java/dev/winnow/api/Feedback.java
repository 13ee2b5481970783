package dev.winnow.api;

import dev.winnow.engine.CandidateResult;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.WinnowConfig;
import dev.winnow.feedback.FeedbackLedger;
import dev.winnow.feedback.GenerationIds;
import dev.winnow.judge.Verdict;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Feedback capture, when {@code winnow.feedback.dir} is set: generation ids are signed, and each
 * generation's safe candidates (the ones a person can see) are held until its pick arrives.
 */
@ApplicationScoped
public class Feedback {

    private static final Logger LOG = Logger.getLogger(Feedback.class);

    @Inject
    WinnowConfig config;

    private GenerationIds ids;
    private FeedbackLedger ledger;

    @PostConstruct
    void init() {
        WinnowConfig.Feedback f = config.feedback();
        ids = new GenerationIds(f.secret().orElse(""));
        Optional<String> dir = f.dir().filter(d -> !d.isBlank());
        if (dir.isPresent()) {
            ledger = new FeedbackLedger(Path.of(dir.get()), f.retention(), f.capacity(), Clock.systemUTC());
            LOG.infof("feedback capture on: picks go to %s%s", ledger.folder().toAbsolutePath(),
                    f.secret().isPresent() ? "" : " (no winnow.feedback.secret: ids are signed with a per-process key)");
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
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("n", job.n());
        settings.put("steps", job.steps());
        settings.put("guidance_scale", job.guidanceScale());
        settings.put("scheduler", job.scheduler());
        settings.put("width", job.width());
        settings.put("height", job.height());
        settings.put("seed", job.seed());
        settings.put("ranking_weights", job.rankingWeights());
        if (job.prune() != null) {
            settings.put("prune", Map.of("at", job.prune().at(), "keep", job.prune().keep()));
        }
        ledger.remember(new FeedbackLedger.Generation(r.id(), r.model(), job.prompt(), job.negativePrompt(), settings,
                shown));
        return ids.sign(r.id());
    }

    /** The generation's uuid when the id is one this service signed, else null. */
    String verify(String id) {
        return ids.verify(id);
    }

    FeedbackLedger ledger() {
        return ledger;
    }
}
