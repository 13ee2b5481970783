package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.image.PngEncoder;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.SafetyVerdict;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import dev.winnow.modelpack.ModelVersion;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Best-of-N on one model set: the pipeline and judges a job runs on, and the rule that turns a
 * job's N denoised candidates into its answer — decode, judge safety first (fail closed), score
 * the safe ones, and rank them to pick the best. It does not denoise: the engine does
 * ({@link EngineLoop}); the {@link Finisher} calls {@link #finishAll} with the jobs that finish
 * together, which share their model calls (the VAE takes up to {@code decodeBatchImages} images
 * a call, the safety judge and each scorer one call for all the jobs' images), and
 * {@link #scorePreviews} for a job held at its prune point. Stateless apart from the loaded
 * models; safe to call from several threads.
 */
public final class BestOfN {

    /** Images per VAE call when not configured ({@code winnow.engine.decode-batch-images}). */
    public static final int DEFAULT_DECODE_BATCH_IMAGES = 8;

    private final DiffusionPipeline pipeline;
    private final SafetyJudge safety;
    private final List<ScoreJudge> scorers;
    private final RankingPolicy ranking;
    private final int decodeBatchImages;
    /** Scores x̂₀ previews for pruning; null when this engine cannot prune. */
    private final ScoreJudge previewJudge;
    /** Whether previews go through the pack's preview decoder when it has one ({@code winnow.prune.preview-decoder}). */
    private final boolean previewDecoder;
    /** The decoding, safety and scoring calls of jobs judged together. */
    private final SharedJudging judging;

    public BestOfN(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking) {
        this(pipeline, safety, scorers, ranking, DEFAULT_DECODE_BATCH_IMAGES, null, true);
    }

    private BestOfN(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking,
                    int decodeBatchImages, ScoreJudge previewJudge, boolean previewDecoder) {
        this.previewJudge = previewJudge;
        this.previewDecoder = previewDecoder;
        this.pipeline = pipeline;
        this.safety = safety;
        this.scorers = List.copyOf(scorers);
        this.ranking = ranking;
        this.decodeBatchImages = Math.max(1, decodeBatchImages);
        this.judging = new SharedJudging(pipeline, safety, this.scorers, this.decodeBatchImages);
    }

    /** The same best-of-N, decoding at most {@code images} images per VAE call ({@code winnow.engine.decode-batch-images}). */
    public BestOfN withDecodeBatchImages(int images) {
        return new BestOfN(pipeline, safety, scorers, ranking, images, previewJudge, previewDecoder);
    }

    public DiffusionPipeline pipeline() {
        return pipeline;
    }

    public List<ScoreJudge> scorers() {
        return scorers;
    }

    public RankingPolicy ranking() {
        return ranking;
    }

    /**
     * The judges of a job by role, with their versions: {@code safety}, each scorer's score
     * name, and {@code preview} (with {@code preview_decoder} when the pack's decoded them) when
     * the job's previews were judged for pruning.
     */
    public Map<String, ModelVersion> judges(boolean previewsJudged) {
        Map<String, ModelVersion> judges = new LinkedHashMap<>();
        judges.put("safety", safety.id());
        scorers.forEach(s -> judges.put(s.scoreName(), s.id()));
        if (previewsJudged && previewJudge != null) {
            judges.put("preview", previewJudge.id());
            if (usesPreviewDecoder()) {
                judges.put("preview_decoder", pipeline.previewDecoderId());
            }
        }
        return judges;
    }

    /**
     * The same best-of-N that can also prune, judging x̂₀ previews with {@code judge}, decoded by
     * the pack's preview decoder when it has one.
     */
    public BestOfN withPreviewJudge(ScoreJudge judge) {
        return withPreviewJudge(judge, true);
    }

    /**
     * The same best-of-N that can also prune, judging x̂₀ previews with {@code judge}.
     *
     * @param previewDecoder decode previews with the pack's preview decoder when it has one (else
     *                       with its VAE decoder, as final images)
     */
    public BestOfN withPreviewJudge(ScoreJudge judge, boolean previewDecoder) {
        return new BestOfN(pipeline, safety, scorers, ranking, decodeBatchImages, judge, previewDecoder);
    }

    /** Whether pruning's previews are decoded by the pack's preview decoder. */
    public boolean usesPreviewDecoder() {
        return previewDecoder && pipeline.hasPreviewDecoder();
    }

    /** The judge of x̂₀ previews, when this engine can prune. */
    public java.util.Optional<ScoreJudge> previewJudge() {
        return java.util.Optional.ofNullable(previewJudge);
    }

    /**
     * Decodes a job's x̂₀ previews (with the pack's preview decoder when it has one and it is not
     * turned off, else with its VAE) and scores them with the preview judge and the job's prompt,
     * in one call each. A preview is only ever scored: it never leaves the
     * service and is never judged for safety (safety judges finished images only).
     *
     * @param previews the latents each candidate's last step predicted, in index order
     * @return the normalised preview score per candidate
     * @throws IllegalStateException when this engine has no preview judge
     */
    public double[] scorePreviews(PreparedJob job, List<float[]> previews) throws Exception {
        if (previewJudge == null) {
            throw new IllegalStateException("no preview judge is loaded");
        }
        DenoisingSlot first = job.slots().get(0);
        List<RgbImage> images = previewDecoder // decodePreviews falls back to the VAE when the pack has none
                ? pipeline.decodePreviews(previews, first.latentHeight(), first.latentWidth(), decodeBatchImages)
                : pipeline.decodeLatents(previews, first.latentHeight(), first.latentWidth(), decodeBatchImages);
        double[] raw = previewJudge.score(images, job.request().prompt());
        double[] scores = new double[raw.length];
        for (int i = 0; i < raw.length; i++) {
            scores[i] = previewJudge.normalise(raw[i]);
        }
        return scores;
    }

    /**
     * A live preview: decodes the x̂₀ previews of a job's live candidates, judges every one for
     * safety (fail closed: an error or a missing verdict is not safe), scores the safe ones (with
     * the preview judge when this engine has one, it being made for x̂₀ previews; else with the
     * job's own ranking of the scorers) and encodes the leader's image, the very pixels the safety
     * judge passed, as a PNG. Withheld when no preview is judged safe, or when decoding fails.
     *
     * @param work the candidates' indices and their x̂₀ latents, copied at one step
     */
    LivePreview livePreview(PreparedJob job, PreparedJob.LivePreviewWork work) {
        DenoisingSlot first = job.slots().get(0);
        List<RgbImage> images;
        try {
            images = pipeline.decodeLatents(work.latents(), first.latentHeight(), first.latentWidth(), decodeBatchImages);
        } catch (Exception e) {
            return LivePreview.withheld(work.step(), work.steps(), "decoding the previews failed");
        }
        List<SafetyVerdict> verdicts = judging.judgeAll(List.of(images)).get(0);
        List<Verdict> verdictList = new ArrayList<>(images.size());
        List<Double> combined = new ArrayList<>(images.size());
        double[] previewScores = null;
        if (previewJudge != null && verdicts.stream().anyMatch(SafetyVerdict::isSafe)) {
            try {
                List<RgbImage> safe = new ArrayList<>();
                for (int k = 0; k < images.size(); k++) {
                    if (verdicts.get(k).isSafe()) {
                        safe.add(images.get(k));
                    }
                }
                double[] raw = previewJudge.score(safe, job.request().prompt());
                previewScores = new double[images.size()];
                for (int k = 0, at = 0; k < images.size(); k++) {
                    previewScores[k] = verdicts.get(k).isSafe() ? previewJudge.normalise(raw[at++]) : Double.NaN;
                }
            } catch (Exception e) {
                previewScores = null; // the scorers rank instead; safety is unaffected
            }
        }
        Map<String, double[]> scores = previewScores != null ? Map.of()
                : judging.scoreAll(List.of(job), List.of(images), List.of(verdicts)).get(0);
        RankingPolicy policy = ranking.withOverrides(job.request().rankingWeights());
        for (int k = 0; k < images.size(); k++) {
            SafetyVerdict v = verdicts.get(k);
            verdictList.add(v.verdict());
            if (!v.isSafe()) {
                combined.add(Double.NaN);
            } else if (previewScores != null) {
                combined.add(previewScores[k]);
            } else {
                Map<String, Double> mine = new LinkedHashMap<>();
                for (Map.Entry<String, double[]> e : scores.entrySet()) {
                    mine.put(e.getKey(), e.getValue()[k]);
                }
                combined.add(policy.combined(mine));
            }
        }
        List<Integer> ranked = policy.ranked(verdictList, combined);
        if (ranked.isEmpty()) {
            return LivePreview.withheld(work.step(), work.steps(), "no candidate's preview was judged safe");
        }
        int k = ranked.get(0);
        if (!verdicts.get(k).isSafe()) {
            throw new IllegalStateException("the ranking led with a preview that is not safe"); // never sent
        }
        RgbImage leader = images.get(k);
        int candidate = work.candidates().get(k);
        return new LivePreview(work.step(), work.steps(), candidate, job.request().seed() + candidate, leader.width(),
                leader.height(), PngEncoder.encode(leader, Map.of()), null);
    }

    /**
     * Decodes a denoised job, judges safety first (fail closed), scores the safe candidates
     * and picks the best.
     *
     * @throws NoSafeCandidateException when no candidate was judged safe
     * @throws GenerationFailedException when decoding failed
     */
    public GenerationResult finish(PreparedJob prepared) {
        return finishAll(List.of(prepared)).get(0).get();
    }

    /** A finished job: its result, or why it has none (a {@link NoSafeCandidateException}, a failure). */
    public record Finished(GenerationResult result, RuntimeException failure) {
        /** The result, or the failure thrown. */
        public GenerationResult get() {
            if (failure != null) {
                throw failure;
            }
            return result;
        }
    }

    /**
     * Decodes and judges denoised jobs that finish together, sharing the VAE's and the safety
     * judge's calls, each scorer called per job ({@link SharedJudging}: a shared call that fails
     * is made again job by job, so a failure
     * stays with the job that caused it), then ranks each job's candidates. Each job keeps its
     * own verdicts, scores and choice: exactly what it would get finished alone.
     *
     * @return one outcome per job, in order
     */
    public List<Finished> finishAll(List<PreparedJob> jobs) {
        int n = jobs.size();
        Finished[] outcome = new Finished[n];
        // 1. decode
        long t0 = System.nanoTime();
        RuntimeException[] undecoded = new RuntimeException[n];
        List<List<RgbImage>> images = judging.decodeAll(jobs, undecoded);
        long decodeMs = millisSince(t0);
        // 2. safety first, over every image of the jobs still standing
        long t1 = System.nanoTime();
        List<List<SafetyVerdict>> verdicts = judging.judgeAll(images);
        long safetyMs = millisSince(t1);
        // 3. the scorers, over the safe images
        long t2 = System.nanoTime();
        List<Map<String, double[]>> scores = judging.scoreAll(jobs, images, verdicts);
        long scoreMs = millisSince(t2);
        // 4. each job's own ranking
        for (int j = 0; j < n; j++) {
            if (undecoded[j] != null) {
                outcome[j] = new Finished(null, undecoded[j]);
                continue;
            }
            Map<String, Long> timings = jobs.get(j).timings();
            timings.put("decode", decodeMs);
            timings.put("safety", safetyMs);
            timings.put("score", scoreMs);
            try {
                outcome[j] = new Finished(rank(jobs.get(j), images.get(j), verdicts.get(j), scores.get(j)), null);
            } catch (RuntimeException e) {
                outcome[j] = new Finished(null, e);
            }
        }
        return Arrays.asList(outcome);
    }

    /**
     * One job's verdicts, scores and choice. {@code images}, {@code verdicts} and the scores are
     * the finished (unpruned) candidates', in index order; pruned candidates are listed with
     * their preview score and take no part in the choice.
     */
    private GenerationResult rank(PreparedJob prepared, List<RgbImage> images, List<SafetyVerdict> verdicts,
                                  Map<String, double[]> normalised) {
        GenerationRequest job = prepared.request();
        RankingPolicy policy = ranking.withOverrides(job.rankingWeights());
        List<DenoisingSlot> slots = prepared.slots();
        List<CandidateResult> candidates = new ArrayList<>(slots.size());
        List<Integer> finishedIndex = new ArrayList<>(images.size());
        List<Verdict> verdictList = new ArrayList<>();
        List<Double> combined = new ArrayList<>();
        int k = 0; // the k-th finished candidate
        for (int i = 0; i < slots.size(); i++) {
            Map<String, Double> scores = new LinkedHashMap<>();
            if (slots.get(i).isPruned()) {
                candidates.add(prunedCandidate(prepared, i));
                continue;
            }
            SafetyVerdict v = verdicts.get(k);
            scores.put("unsafe_probability", v.unsafeProbability());
            double c = Double.NaN;
            if (v.isSafe()) {
                Map<String, Double> mine = new LinkedHashMap<>();
                for (Map.Entry<String, double[]> e : normalised.entrySet()) {
                    mine.put(e.getKey(), e.getValue()[k]);
                }
                scores.putAll(mine);
                c = policy.combined(mine);
                scores.put("combined", c);
            }
            if (prepared.previewsJudged()) {
                scores.put("preview", prepared.previewScore(i));
            }
            verdictList.add(v.verdict());
            combined.add(c);
            finishedIndex.add(i);
            candidates.add(new CandidateResult(i, job.seed() + i, v.verdict(), scores));
            k++;
        }
        List<Integer> ranked = policy.ranked(verdictList, combined);
        if (job.previews() > 0) {
            prepared.timings().put("stream_preview", prepared.livePreviewMillis());
        }
        if (ranked.isEmpty()) {
            prepared.timings().put("total", millisSince(prepared.startNanos()));
            throw new NoSafeCandidateException(candidates);
        }
        int best = ranked.get(0);
        List<GenerationResult.Picture> pictures = new ArrayList<>();
        long encodeStart = System.nanoTime();
        for (int r : ranked.subList(0, Math.min(ranked.size(), job.images()))) {
            CandidateResult c = candidates.get(finishedIndex.get(r));
            GenerationResult.Picture picture = new GenerationResult.Picture(c, images.get(r),
                    Map.of("parameters", parameters(job, c.seed())));
            picture.png(); // encoded here, on the finishing thread, once: the response only copies it out
            pictures.add(picture);
        }
        prepared.timings().put("encode", millisSince(encodeStart));
        prepared.timings().put("total", millisSince(prepared.startNanos()));
        RgbImage first = images.get(best);
        List<Integer> rankedIndices = ranked.stream().map(finishedIndex::get).toList();
        return new GenerationResult(UUID.randomUUID().toString(), pipeline.id(), judges(prepared.previewsJudged()),
                pictures.get(0), candidates, rankedIndices, prepared.timings(), pictures.subList(1, pictures.size()),
                first.width(), first.height());
    }

    /** Candidate {@code i} of a job, pruned: its verdict, its last preview score and the step it was pruned after. */
    static CandidateResult prunedCandidate(PreparedJob prepared, int i) {
        Map<String, Double> scores = new LinkedHashMap<>();
        scores.put("preview", prepared.previewScore(i));
        return new CandidateResult(i, prepared.request().seed() + i, Verdict.PRUNED, scores, prepared.prunedAtStep(i));
    }

    /** AUTOMATIC1111's "parameters" text: a saved image says how to make it again. */
    String parameters(GenerationRequest job, long seed) {
        StringBuilder sb = new StringBuilder(job.prompt());
        if (!job.negativePrompt().isBlank()) {
            sb.append("\nNegative prompt: ").append(job.negativePrompt());
        }
        sb.append("\nSteps: ").append(job.steps())
                .append(", Sampler: ").append(samplerLabel(job.scheduler()))
                .append(", CFG scale: ").append(job.guidanceScale())
                .append(", Seed: ").append(seed)
                .append(", Size: ").append(job.width()).append('x').append(job.height())
                .append(", Model: ").append(pipeline.name())
                .append(", Model version: ").append(pipeline.version());
        return sb.toString();
    }

    static String samplerLabel(String scheduler) {
        return switch (scheduler) {
            case "ddim" -> "DDIM";
            case "euler" -> "Euler";
            case "euler_a" -> "Euler a";
            case "dpmpp_2m" -> "DPM++ 2M";
            case "lcm" -> "LCM";
            default -> scheduler;
        };
    }

    private static long millisSince(long t) {
        return (System.nanoTime() - t) / 1_000_000;
    }
}
