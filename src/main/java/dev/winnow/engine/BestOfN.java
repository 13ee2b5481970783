package dev.winnow.engine;

import ai.onnxruntime.OrtException;
import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.PromptEmbedding;
import dev.winnow.image.PngEncoder;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.SafetyVerdict;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Best-of-N for one job: encode the prompt once, denoise the N candidates together in
 * batched UNet calls, decode, judge safety first (fail closed), score, and pick the best
 * safe candidate. Stateless apart from the loaded models; safe to call from several threads.
 */
public final class BestOfN {

    private static final Logger LOG = Logger.getLogger(BestOfN.class.getName());

    private final DiffusionPipeline pipeline;
    private final SafetyJudge safety;
    private final List<ScoreJudge> scorers;
    private final RankingPolicy ranking;
    private final int maxBatchRows;

    public BestOfN(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking,
                   int maxBatchRows) {
        this.pipeline = pipeline;
        this.safety = safety;
        this.scorers = List.copyOf(scorers);
        this.ranking = ranking;
        this.maxBatchRows = Math.max(1, maxBatchRows);
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
            while (!slots.get(0).isDone()) {
                if (System.nanoTime() > job.deadlineNanos()) {
                    throw new DeadlineExceededException("the deadline passed after " + slots.get(0).stepIndex()
                            + " of " + slots.get(0).totalSteps() + " steps");
                }
                for (int from = 0; from < slots.size(); from += slotsPerCall) {
                    int rows = pipeline.step(slots.subList(from, Math.min(slots.size(), from + slotsPerCall)));
                    batchRows.accept(rows);
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
     */
    public GenerationResult finish(PreparedJob prepared) {
        GenerationRequest job = prepared.request();
        Map<String, Long> timings = prepared.timings();
        List<RgbImage> images;
        long t2 = System.nanoTime();
        try {
            images = pipeline.decode(prepared.slots(), Math.max(1, maxBatchRows));
        } catch (OrtException | RuntimeException e) {
            throw new GenerationFailedException("decoding failed: " + e.getMessage(), e);
        }
        timings.put("decode", millisSince(t2));

        long t3 = System.nanoTime();
        List<SafetyVerdict> verdicts = safety.judge(images);
        timings.put("safety", millisSince(t3));

        long t4 = System.nanoTime();
        List<Integer> safeIdx = new ArrayList<>();
        for (int i = 0; i < verdicts.size(); i++) {
            if (verdicts.get(i).isSafe()) {
                safeIdx.add(i);
            }
        }
        Map<String, double[]> normalised = scoreSafe(images, safeIdx, job.prompt());
        timings.put("score", millisSince(t4));

        RankingPolicy policy = ranking.withOverrides(job.rankingWeights());
        List<CandidateResult> candidates = new ArrayList<>(images.size());
        List<Verdict> verdictList = new ArrayList<>();
        List<Double> combined = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            SafetyVerdict v = verdicts.get(i);
            Map<String, Double> scores = new LinkedHashMap<>();
            scores.put("unsafe_probability", v.unsafeProbability());
            double c = Double.NaN;
            if (v.isSafe()) {
                Map<String, Double> mine = new LinkedHashMap<>();
                for (Map.Entry<String, double[]> e : normalised.entrySet()) {
                    mine.put(e.getKey(), e.getValue()[i]);
                }
                scores.putAll(mine);
                c = policy.combined(mine);
                scores.put("combined", c);
            }
            verdictList.add(v.verdict());
            combined.add(c);
            candidates.add(new CandidateResult(i, job.seed() + i, v.verdict(), scores));
        }
        int best = policy.best(verdictList, combined);
        timings.put("total", millisSince(prepared.startNanos()));
        if (best < 0) {
            throw new NoSafeCandidateException(candidates);
        }
        CandidateResult chosen = candidates.get(best);
        RgbImage image = images.get(best);
        byte[] png = PngEncoder.encode(image, Map.of("parameters", parameters(job, chosen.seed())));
        return new GenerationResult(UUID.randomUUID().toString(), pipeline.name(), chosen, image.width(), image.height(),
                png, candidates, timings);
    }

    /** Each scorer's normalised score for the safe candidates (NaN for the others, and when a scorer fails). */
    private Map<String, double[]> scoreSafe(List<RgbImage> images, List<Integer> safeIdx, String prompt) {
        Map<String, double[]> out = new LinkedHashMap<>();
        List<RgbImage> safeImages = safeIdx.stream().map(images::get).toList();
        for (ScoreJudge s : scorers) {
            double[] all = new double[images.size()];
            Arrays.fill(all, Double.NaN);
            if (!safeImages.isEmpty()) {
                try {
                    double[] raw = s.score(safeImages, prompt);
                    for (int k = 0; k < raw.length; k++) {
                        all[safeIdx.get(k)] = s.normalise(raw[k]);
                    }
                } catch (Exception e) {
                    // A failed scorer leaves the ranking to the others; safety is unaffected.
                    LOG.warning("scorer " + s.scoreName() + " failed: " + e.getMessage());
                    Arrays.fill(all, 0.0);
                }
            }
            out.put(s.scoreName(), all);
        }
        return out;
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
                .append(", Model: ").append(pipeline.name());
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
