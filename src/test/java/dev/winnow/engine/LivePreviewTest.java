package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.SafetyVerdict;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live previews on the real embedded models: taken at evenly spread steps, each judged by the
 * safety judge before it is handed out, told before the answer. The safety threshold is chosen
 * from the previews' own unsafe probabilities (their median), so that the previews' verdicts mix.
 */
class LivePreviewTest {

    static final Path NSFW = Path.of("models/judges/nsfw-mobilenet-v2");
    static final int N = 8;
    static final int STEPS = 10;

    static OnnxSessions sessions;
    static DiffusionPipeline pipeline;
    static ScoreJudge aesthetic;
    static JudgeManifest manifest;
    static ModelSession nsfwModel;

    /** One safety call: each image's pixels and verdict. */
    record Judged(List<byte[]> pixels, List<SafetyVerdict> verdicts) {
    }

    /** The real safety judge at {@code threshold}, recording every call it answers. */
    static final class Recording extends SafetyJudge {
        final List<Judged> calls = Collections.synchronizedList(new ArrayList<>());

        Recording(double threshold) {
            super(manifest, nsfwModel, threshold);
        }

        @Override
        public List<SafetyVerdict> judge(List<RgbImage> images) {
            List<SafetyVerdict> v = super.judge(images);
            calls.add(new Judged(images.stream().map(RgbImage::rgb).toList(), v));
            return v;
        }
    }

    /** What a watcher saw, in order: previews, then "answered". */
    final List<Object> told = Collections.synchronizedList(new ArrayList<>());

    @BeforeAll
    static void load() throws Exception {
        sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        pipeline = DiffusionPipeline.load(Path.of("models/shapes-scenes"), sessions);
        aesthetic = ScoreJudge.load(Path.of("models/judges/aesthetic-scenes"), sessions);
        manifest = JudgeManifests.read(NSFW);
        nsfwModel = sessions.open(NSFW.resolve(manifest.model()));
    }

    @AfterAll
    static void close() throws Exception {
        pipeline.close();
        aesthetic.close();
        nsfwModel.close();
    }

    static GenerationRequest job(int previews) {
        return new GenerationRequest("two green triangles", "", N, STEPS, 5.0, 500, 64, 64, "ddim", true, Map.of(),
                System.nanoTime() + 120_000_000_000L, null, 1, previews);
    }

    /** Runs one watched job on its own engine; what it was told lands in {@link #told}. */
    GenerationResult run(SafetyJudge safety, GenerationRequest job, EngineObserver observer) {
        told.clear();
        BestOfN models = new BestOfN(pipeline, safety, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)));
        try (EngineLoop loop = new EngineLoop(models, 2, 16, true, UnetStepper.DIRECT, observer)) {
            JobEvents watcher = new JobEvents() {
                @Override
                public void preview(LivePreview preview) {
                    told.add(preview);
                }
            };
            return loop.submit(job, watcher).whenComplete((r, e) -> told.add("answered")).join();
        }
    }

    static byte[] pixels(byte[] png) {
        return Determinism.decode(png).rgb();
    }

    @Test
    void previewsAreTakenAtEvenlySpreadStepsBeforeTheLastOne() {
        assertArrayEquals(new int[] {3, 5, 8}, PreparedJob.livePreviewSteps(10, 3));
        assertArrayEquals(new int[] {10}, PreparedJob.livePreviewSteps(20, 1));
        assertArrayEquals(new int[] {1}, PreparedJob.livePreviewSteps(2, 3), "a short run gets fewer");
        assertArrayEquals(new int[] {}, PreparedJob.livePreviewSteps(1, 3), "one step: the final image is all there is");
        assertArrayEquals(new int[] {}, PreparedJob.livePreviewSteps(20, 0));
    }

    @Test
    void everyPreviewHandedOutWasJudgedSafeAndNoneJudgedUnsafeEverLeaves() throws Exception {
        // 1. The previews' unsafe probabilities, nothing refused (threshold 1): their median mixes them.
        Recording open = new Recording(1.0);
        run(open, job(3), new EngineObserver() { });
        List<Judged> previewCalls = open.calls.subList(0, open.calls.size() - 1); // the last call judges the finals
        assertEquals(3, previewCalls.size(), "one safety call per preview step");
        double[] p = previewCalls.stream().flatMap(c -> c.verdicts().stream())
                .mapToDouble(SafetyVerdict::unsafeProbability).sorted().toArray();
        double median = p[p.length / 2];

        // 2. The same job (its images depend only on its seeds) with the threshold at that median.
        Recording mixed = new Recording(median);
        AtomicLong previewNanos = new AtomicLong();
        GenerationResult result = run(mixed, job(3), new EngineObserver() {
            @Override
            public void stage(String stage, long nanos) {
                if (stage.equals("stream_preview")) {
                    previewNanos.addAndGet(nanos);
                }
            }
        });
        List<Judged> judged = mixed.calls.subList(0, mixed.calls.size() - 1);
        long unsafePreviews = judged.stream().flatMap(c -> c.verdicts().stream()).filter(v -> !v.isSafe()).count();
        long safePreviews = judged.stream().flatMap(c -> c.verdicts().stream()).filter(SafetyVerdict::isSafe).count();
        assertTrue(unsafePreviews > 0 && safePreviews > 0, "the previews' verdicts mix: " + safePreviews + " safe, "
                + unsafePreviews + " unsafe");

        List<LivePreview> previews = told.stream().filter(LivePreview.class::isInstance).map(LivePreview.class::cast).toList();
        assertEquals(List.of(3, 5, 8), previews.stream().map(LivePreview::step).toList());
        assertEquals("answered", told.get(told.size() - 1), "every preview is told before the answer");
        // two finishing threads may judge two previews at once, so calls are matched by their pixels, not their order
        long stepsWithNothingSafe = judged.stream().filter(c -> c.verdicts().stream().noneMatch(SafetyVerdict::isSafe)).count();
        assertEquals(stepsWithNothingSafe, previews.stream().filter(v -> !v.isSent()).count(),
                "a preview is withheld exactly when none of its step is judged safe");
        for (LivePreview sent : previews) {
            if (!sent.isSent()) {
                assertTrue(sent.withheld().length() > 0);
                continue;
            }
            byte[] shown = pixels(sent.png());
            boolean passed = false;
            for (Judged c : judged) {
                for (int i = 0; i < c.pixels().size(); i++) {
                    if (Arrays.equals(c.pixels().get(i), shown)) {
                        assertTrue(c.verdicts().get(i).isSafe(), "the preview at step " + sent.step()
                                + " shows pixels the judge called " + c.verdicts().get(i));
                        passed = true;
                    }
                }
            }
            assertTrue(passed, "the preview at step " + sent.step() + " is exactly pixels the judge passed");
        }
        assertTrue(result.timingsMs().containsKey("stream_preview"), "the previews' cost is in the timings");
        assertTrue(previewNanos.get() > 0, "and in the stream_preview stage");
        assertTrue(result.chosen().verdict() == Verdict.SAFE);
    }

    @Test
    void aJobWithoutPreviewsJudgesNothingButItsFinishedCandidates() {
        Recording judge = new Recording(1.0);
        GenerationResult r = run(judge, job(0), new EngineObserver() { });
        assertEquals(1, judge.calls.size(), "one safety call: the finished candidates");
        assertTrue(told.stream().noneMatch(LivePreview.class::isInstance));
        assertFalse(r.timingsMs().containsKey("stream_preview"));
    }
}
