package dev.winnow.engine;

import ai.onnxruntime.OrtException;
import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.SafetyVerdict;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The model calls that judge the candidates of jobs finishing together, shared between the jobs:
 * the VAE decodes up to {@code decodeBatchImages} images a call and the safety judge judges all the
 * jobs' images in one call; each scorer scores each job's safe images in a call of their own
 * (see {@link #scoreAll}). A shared call that fails is made again job by job, so a failure stays
 * with the job that caused it and each job gets exactly what it would get judged alone.
 * {@link BestOfN} ranks what these calls return. Stateless apart from the models.
 */
final class SharedJudging {

    private static final Logger LOG = Logger.getLogger(SharedJudging.class.getName());

    private final DiffusionPipeline pipeline;
    private final SafetyJudge safety;
    private final List<ScoreJudge> scorers;
    private final int decodeBatchImages;

    SharedJudging(DiffusionPipeline pipeline, SafetyJudge safety, List<ScoreJudge> scorers, int decodeBatchImages) {
        this.pipeline = pipeline;
        this.safety = safety;
        this.scorers = scorers;
        this.decodeBatchImages = decodeBatchImages;
    }

    /** Every job's images; a job whose decoding failed gets its failure in {@code failures} and null here. */
    List<List<RgbImage>> decodeAll(List<PreparedJob> jobs, RuntimeException[] failures) {
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
                failures[j] = new GenerationFailedException("decoding failed: " + e.getMessage(), e);
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
    List<List<SafetyVerdict>> judgeAll(List<List<RgbImage>> images) {
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
     * a job's candidates when a scorer fails on them): one call per scorer per job, for that job's
     * safe images with its prompt. Not one call for all the jobs: a scorer's rows are not
     * independent of the batch they are in (the scenes verifier's result moves by a float ulp
     * between a batch of 1 and of 6 in ONNX Runtime's CPU kernels), and a job's scores, and so its
     * choice, must not depend on which other jobs finished with it (docs/DETERMINISM.md).
     */
    List<Map<String, double[]>> scoreAll(List<PreparedJob> jobs, List<List<RgbImage>> images,
                                                 List<List<SafetyVerdict>> verdicts) {
        List<Map<String, double[]>> out = new ArrayList<>();
        for (int j = 0; j < jobs.size(); j++) {
            Map<String, double[]> mine = new LinkedHashMap<>();
            out.add(mine);
            if (images.get(j) == null) {
                continue;
            }
            List<RgbImage> safeImages = new ArrayList<>();
            List<Integer> safeIndex = new ArrayList<>();
            for (int i = 0; i < images.get(j).size(); i++) {
                if (verdicts.get(j).get(i).isSafe()) {
                    safeImages.add(images.get(j).get(i));
                    safeIndex.add(i);
                }
            }
            for (ScoreJudge s : scorers) {
                double[] scores = new double[images.get(j).size()];
                Arrays.fill(scores, Double.NaN);
                mine.put(s.scoreName(), scores);
                if (safeImages.isEmpty()) {
                    continue;
                }
                try {
                    double[] raw = s.score(safeImages, jobs.get(j).request().prompt());
                    for (int k = 0; k < raw.length; k++) {
                        scores[safeIndex.get(k)] = s.normalise(raw[k]);
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
}
