package dev.winnow.engine;

import ai.onnxruntime.OrtException;
import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.PromptEmbedding;
import dev.winnow.diffusion.StepCalls;
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
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Best-of-N: encode the prompt once, denoise the N candidates together in batched UNet calls,
 * decode, judge safety first (fail closed), score, and pick the best safe candidate. Jobs that
 * finish together are decoded and judged together ({@link #finishAll}): the VAE takes up to
 * {@code decodeBatchImages} images a call, the safety judge and each scorer one call for all
 * the jobs' images. Stateless apart from the loaded models; safe to call from several threads.
 */
public final class BestOfN {

    /** Images per VAE call when not configured ({@code winnow.engine.decode-batch-images}). */
    public static final int DEFAULT_DECODE_BATCH_IMAGES = 8;

    private static final Logger LOG = Logger.getLogger(BestOfN.class.getName());

    private final DiffusionPipeline pipeline;
    private final SafetyJudge safety;
    private final List<ScoreJudge> scorers;
    private final RankingPolicy ranking;
    private final int maxBatchRows;
    private final int decodeBatchImages;
    /** Scores x̂₀ previews for pruning; null when this engine cannot prune. */
    private final ScoreJudge previewJudge;

    public BestOfN(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking,
                   int maxBatchRows) {
        this(pipeline, safety, scorers, ranking, maxBatchRows, DEFAULT_DECODE_BATCH_IMAGES);
    }

    /**
     * @param maxBatchRows      most UNet rows per call when a job runs alone ({@link #generate})
     * @param decodeBatchImages most images per VAE decoder call
     */
    public BestOfN(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking,
                   int maxBatchRows, int decodeBatchImages) {
        this(pipeline, safety, scorers, ranking, maxBatchRows, decodeBatchImages, null);
    }

    private BestOfN(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking,
                    int maxBatchRows, int decodeBatchImages, ScoreJudge previewJudge) {
        this.previewJudge = previewJudge;
        this.pipeline = pipeline;
        this.safety = safety;
        this.scorers = List.copyOf(scorers);
        this.ranking = ranking;
        this.maxBatchRows = Math.max(1, maxBatchRows);
        this.decodeBatchImages = Math.max(1, decodeBatchImages);
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
     * name, and {@code preview} when the job's previews were judged for pruning.
     */
    public Map<String, ModelVersion> judges(boolean previewsJudged) {
        Map<String, ModelVersion> judges = new LinkedHashMap<>();
        judges.put("safety", safety.id());
        scorers.forEach(s -> judges.put(s.scoreName(), s.id()));
        if (previewsJudged && previewJudge != null) {
            judges.put("preview", previewJudge.id());
        }
        return judges;
    }

    /** The same best-of-N that can also prune, judging x̂₀ previews with {@code judge}. */
    public BestOfN withPreviewJudge(ScoreJudge judge) {
        return new BestOfN(pipeline, safety, scorers, ranking, maxBatchRows, decodeBatchImages, judge);
    }

    /** The judge of x̂₀ previews, when this engine can prune. */
    public java.util.Optional<ScoreJudge> previewJudge() {
        return java.util.Optional.ofNullable(previewJudge);
    }

    /**
     * Decodes a job's x̂₀ previews with the pipeline's VAE and scores them with the preview judge
     * and the job's prompt, in one call each. A preview is only ever scored: it never leaves the
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
        List<RgbImage> images = pipeline.decodeLatents(previews, first.latentHeight(), first.latentWidth(),
                decodeBatchImages);
        double[] raw = previewJudge.score(images, job.request().prompt());
        double[] scores = new double[raw.length];
        for (int i = 0; i < raw.length; i++) {
            scores[i] = previewJudge.normalise(raw[i]);
        }
        return scores;
    }

    /**
     * Judges the previews of a job whose slots all reached the prune point and prunes it; if the
     * previews cannot be judged every candidate goes on (pruning saves work, it decides nothing).
     *
     * @return the indices pruned
     */
    List<Integer> pruneNow(PreparedJob job) {
        long t0 = System.nanoTime();
        try {
            double[] scores = scorePreviews(job, job.takePreviews());
            job.previewTook(System.nanoTime() - t0);
            return job.prune(scores);
        } catch (Exception e) {
            LOG.warning("judging x̂0 previews failed; the job's candidates all go on unpruned: " + e);
            job.keepAll();
            return List.of();
        }
    }

    /**
     * Runs a job to the end on the calling thread (its own candidates batched together).
     *
     * @param batchRows reports each UNet call's row count (for metrics)
     * @throws NoSafeCandidateException when no candidate was judged safe
     * @throws DeadlineExceededException when the job's deadline passes between steps
     * @throws GenerationFailedException when a diffusion model call fails
     */
    public GenerationResult generate(GenerationRequest job, Consumer<Integer> batchRows) {
        PreparedJob prepared = prepare(job);
        List<DenoisingSlot> slots = prepared.slots();
        try {
            int slotsPerCall = Math.max(1, maxBatchRows / slots.get(0).rows());
            while (!prepared.isDenoised()) {
                List<DenoisingSlot> live = prepared.liveSlots();
                if (System.nanoTime() > job.deadlineNanos()) {
                    throw new DeadlineExceededException("the deadline passed after " + live.get(0).stepIndex()
                            + " of " + live.get(0).totalSteps() + " steps");
                }
                for (int from = 0; from < live.size(); from += slotsPerCall) {
                    StepCalls calls = pipeline.step(live.subList(from, Math.min(live.size(), from + slotsPerCall)));
                    for (int i = 0; i < calls.calls(); i++) {
                        batchRows.accept(calls.rows(i));
                    }
                }
                if (prepared.readyToPreview()) {
                    pruneNow(prepared);
                }
            }
        } catch (OrtException | RuntimeException e) {
            if (e instanceof DeadlineExceededException d) {
                throw d;
            }
            throw new GenerationFailedException("generation failed: " + e.getMessage(), e);
        }
        prepared.denoiseDone();
        return finish(prepared);
    }

    /** Encodes the prompt once and creates the job's N slots (candidate i with seed + i). */
    public PreparedJob prepare(GenerationRequest job) {
        long t0 = System.nanoTime();
        try {
            PromptEmbedding prompt = pipeline.encodePrompt(job.prompt(), job.negativePrompt());
            List<DenoisingSlot> slots = new ArrayList<>(job.n());
            for (int i = 0; i < job.n(); i++) {
                slots.add(pipeline.newSlot(job.seed() + i, prompt, job.scheduler(), job.steps(), job.guidanceScale(),
                        job.width(), job.height()));
            }
            PreparedJob prepared = new PreparedJob(job, slots, t0);
            prepared.timings().put("text_encode", millisSince(t0));
            return prepared;
        } catch (OrtException | RuntimeException e) {
            throw new GenerationFailedException("encoding the prompt failed: " + e.getMessage(), e);
        }
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
     * Decodes and judges denoised jobs that finish together, sharing the model calls: the VAE
     * decodes up to {@code decodeBatchImages} images a call, the safety judge judges all the
     * jobs' images in one call and each scorer scores all their safe images in one call (with
     * each image's own prompt). A call shared by several jobs that fails is made again job by job,
     * so a failure stays with the job that caused it. Each job keeps its own verdicts, scores and
     * choice: exactly what it would get finished alone.
     *
     * @return one outcome per job, in order
     */
    public List<Finished> finishAll(List<PreparedJob> jobs) {
        int n = jobs.size();
        Finished[] outcome = new Finished[n];
        // 1. decode
        long t0 = System.nanoTime();
        List<List<RgbImage>> images = decodeAll(jobs, outcome);
        long decodeMs = millisSince(t0);
        // 2. safety first, over every image of the jobs still standing
        long t1 = System.nanoTime();
        List<List<SafetyVerdict>> verdicts = judgeAll(images);
        long safetyMs = millisSince(t1);
        // 3. the scorers, over the safe images
        long t2 = System.nanoTime();
        List<Map<String, double[]>> scores = scoreAll(jobs, images, verdicts);
        long scoreMs = millisSince(t2);
        // 4. each job's own ranking
        for (int j = 0; j < n; j++) {
            if (outcome[j] != null) {
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

    /** Every job's images; a job whose decoding failed gets its failure in {@code outcome} and null here. */
    private List<List<RgbImage>> decodeAll(List<PreparedJob> jobs, Finished[] outcome) {
        List<List<RgbImage>> images = new ArrayList<>(jobs.size());
        if (jobs.size() > 1) {
            List<DenoisingSlot> all = new ArrayList<>();
            jobs.forEach(j -> all.addAll(j.liveSlots()));
            try {
                List<RgbImage> decoded = decodeBySize(all);
                int at = 0;
                for (PreparedJob j : jobs) {
                    int live = j.liveSlots().size();
                    images.add(decoded.subList(at, at + live));
                    at += live;
                }
                return images;
            } catch (OrtException | RuntimeException e) {
                LOG.fine("decoding " + jobs.size() + " jobs together failed; decoding them one by one: " + e);
                images.clear();
            }
        }
        for (int j = 0; j < jobs.size(); j++) {
            try {
                images.add(decodeBySize(jobs.get(j).liveSlots()));
            } catch (OrtException | RuntimeException e) {
                images.add(null);
                outcome[j] = new Finished(null, new GenerationFailedException("decoding failed: " + e.getMessage(), e));
            }
        }
        return images;
    }

    /** Decodes slots in their order, each latent size in its own VAE calls. */
    private List<RgbImage> decodeBySize(List<DenoisingSlot> slots) throws OrtException {
        Map<String, List<Integer>> bySize = new LinkedHashMap<>();
        for (int i = 0; i < slots.size(); i++) {
            bySize.computeIfAbsent(slots.get(i).shapeKey(), k -> new ArrayList<>()).add(i);
        }
        RgbImage[] out = new RgbImage[slots.size()];
        for (List<Integer> idx : bySize.values()) {
            List<RgbImage> decoded = pipeline.decode(idx.stream().map(slots::get).toList(), decodeBatchImages);
            for (int k = 0; k < idx.size(); k++) {
                out[idx.get(k)] = decoded.get(k);
            }
        }
        return Arrays.asList(out);
    }

    /**
     * Safety verdicts for every job's images in one call per image size. The judge fails closed:
     * a call that fails makes every image in it a safety_error, so when a shared call fails, each
     * job is judged again on its own and keeps its own verdicts.
     */
    private List<List<SafetyVerdict>> judgeAll(List<List<RgbImage>> images) {
        List<List<SafetyVerdict>> out = new ArrayList<>();
        List<Integer> live = new ArrayList<>();
        for (int j = 0; j < images.size(); j++) {
            out.add(null);
            if (images.get(j) != null) {
                live.add(j);
            }
        }
        if (live.size() > 1) {
            List<RgbImage> all = new ArrayList<>();
            live.forEach(j -> all.addAll(images.get(j)));
            List<SafetyVerdict> verdicts = judgeBySize(all);
            if (verdicts.stream().noneMatch(v -> v.verdict() == Verdict.SAFETY_ERROR)) {
                int at = 0;
                for (int j : live) {
                    out.set(j, verdicts.subList(at, at + images.get(j).size()));
                    at += images.get(j).size();
                }
                return out;
            }
        }
        for (int j : live) {
            out.set(j, judgeBySize(images.get(j)));
        }
        return out;
    }

    /** One safety call per image size (a judge that also takes the images at their own size needs them alike). */
    private List<SafetyVerdict> judgeBySize(List<RgbImage> images) {
        Map<String, List<Integer>> bySize = bySize(images);
        if (bySize.size() == 1) {
            return safety.judge(images);
        }
        SafetyVerdict[] out = new SafetyVerdict[images.size()];
        for (List<Integer> idx : bySize.values()) {
            List<SafetyVerdict> v = safety.judge(idx.stream().map(images::get).toList());
            for (int k = 0; k < idx.size(); k++) {
                out[idx.get(k)] = k < v.size() ? v.get(k) : SafetyVerdict.failed("no verdict");
            }
        }
        return Arrays.asList(out);
    }

    private static Map<String, List<Integer>> bySize(List<RgbImage> images) {
        Map<String, List<Integer>> bySize = new LinkedHashMap<>();
        for (int i = 0; i < images.size(); i++) {
            bySize.computeIfAbsent(images.get(i).width() + "x" + images.get(i).height(), k -> new ArrayList<>()).add(i);
        }
        return bySize;
    }

    /**
     * Each job's normalised scores per scorer (NaN for candidates that are not safe, 0 for all of
     * a job's candidates when a scorer fails on them): one call per scorer for the safe images of
     * all the jobs, each with its own job's prompt; a shared call that fails is made again job by job.
     */
    private List<Map<String, double[]>> scoreAll(List<PreparedJob> jobs, List<List<RgbImage>> images,
                                                 List<List<SafetyVerdict>> verdicts) {
        List<Map<String, double[]>> out = new ArrayList<>();
        List<RgbImage> safeImages = new ArrayList<>();
        List<String> prompts = new ArrayList<>();
        List<int[]> owners = new ArrayList<>(); // {job, candidate} of each safe image
        for (int j = 0; j < jobs.size(); j++) {
            out.add(new LinkedHashMap<>());
            if (images.get(j) == null) {
                continue;
            }
            for (int i = 0; i < images.get(j).size(); i++) {
                if (verdicts.get(j).get(i).isSafe()) {
                    safeImages.add(images.get(j).get(i));
                    prompts.add(jobs.get(j).request().prompt());
                    owners.add(new int[] {j, i});
                }
            }
        }
        for (ScoreJudge s : scorers) {
            for (int j = 0; j < jobs.size(); j++) {
                if (images.get(j) != null) {
                    double[] none = new double[images.get(j).size()];
                    Arrays.fill(none, Double.NaN);
                    out.get(j).put(s.scoreName(), none);
                }
            }
            if (safeImages.isEmpty()) {
                continue;
            }
            double[] raw = null;
            try {
                raw = s.score(safeImages, prompts);
            } catch (Exception e) {
                if (jobs.size() == 1) {
                    failedScorer(s, e, out.get(0).get(s.scoreName()));
                    continue;
                }
                LOG.fine("scorer " + s.scoreName() + " failed on " + jobs.size() + " jobs' images; scoring them job by job");
            }
            if (raw != null) {
                for (int k = 0; k < raw.length; k++) {
                    out.get(owners.get(k)[0]).get(s.scoreName())[owners.get(k)[1]] = s.normalise(raw[k]);
                }
                continue;
            }
            for (int j = 0; j < jobs.size(); j++) {
                List<Integer> mine = new ArrayList<>();
                for (int k = 0; k < owners.size(); k++) {
                    if (owners.get(k)[0] == j) {
                        mine.add(k);
                    }
                }
                if (mine.isEmpty()) {
                    continue;
                }
                double[] scores = out.get(j).get(s.scoreName());
                try {
                    double[] r = s.score(mine.stream().map(safeImages::get).toList(), jobs.get(j).request().prompt());
                    for (int k = 0; k < r.length; k++) {
                        scores[owners.get(mine.get(k))[1]] = s.normalise(r[k]);
                    }
                } catch (Exception e) {
                    failedScorer(s, e, scores);
                }
            }
        }
        return out;
    }

    /** A failed scorer leaves the ranking to the others; safety is unaffected. */
    private static void failedScorer(ScoreJudge s, Exception e, double[] scores) {
        LOG.warning("scorer " + s.scoreName() + " failed: " + e.getMessage());
        Arrays.fill(scores, 0.0);
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
        prepared.timings().put("total", millisSince(prepared.startNanos()));
        if (ranked.isEmpty()) {
            throw new NoSafeCandidateException(candidates);
        }
        int best = ranked.get(0);
        List<GenerationResult.Picture> pictures = new ArrayList<>();
        for (int r : ranked.subList(0, Math.min(ranked.size(), job.images()))) {
            CandidateResult c = candidates.get(finishedIndex.get(r));
            pictures.add(new GenerationResult.Picture(c, images.get(r), Map.of("parameters", parameters(job, c.seed()))));
        }
        RgbImage first = images.get(best);
        List<Integer> rankedIndices = ranked.stream().map(finishedIndex::get).toList();
        return new GenerationResult(UUID.randomUUID().toString(), pipeline.id(), judges(prepared.previewsJudged()),
                pictures.get(0), candidates, rankedIndices, prepared.timings(), pictures.subList(1, pictures.size()),
                first.width(), first.height());
    }

    /** Candidate {@code i} of a job, pruned: its verdict and its preview score. */
    static CandidateResult prunedCandidate(PreparedJob prepared, int i) {
        Map<String, Double> scores = new LinkedHashMap<>();
        scores.put("preview", prepared.previewScore(i));
        return new CandidateResult(i, prepared.request().seed() + i, Verdict.PRUNED, scores);
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
