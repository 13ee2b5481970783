package dev.winnow.judge;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.modelpack.PackException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A safety classifier. <b>Fails closed</b>: a candidate is safe only when the model returned a
 * finite probability vector for it and the unsafe labels' summed probability is under the
 * threshold. An exception, a wrong-sized output or a NaN makes the candidate
 * {@link Verdict#SAFETY_ERROR}, never safe.
 */
public class SafetyJudge implements AutoCloseable {

    private final JudgeManifest manifest;
    private final ModelSession model;
    private final ImagePreprocessor preprocessor;
    private final int[] unsafeIndexes;
    private final double threshold;

    protected SafetyJudge(JudgeManifest manifest, ModelSession model, double threshold) {
        this.manifest = manifest;
        this.model = model;
        this.preprocessor = manifest == null ? null : new ImagePreprocessor(manifest.imageInput());
        this.unsafeIndexes = manifest == null ? new int[0]
                : manifest.unsafeLabels().stream().mapToInt(manifest.labels()::indexOf).toArray();
        this.threshold = threshold;
    }

    /**
     * @param thresholdOverride a configured threshold, or null for the manifest's
     */
    public static SafetyJudge load(Path folder, OnnxSessions sessions, Double thresholdOverride) {
        JudgeManifest m = JudgeManifests.read(folder);
        if (m.role() != JudgeManifest.Role.SAFETY) {
            throw new PackException(folder.resolve("judge.json") + ": role is '" + m.role()
                    + "', but this path is configured as the safety judge");
        }
        ModelSession s = sessions.open(folder.resolve(m.model()));
        try {
            JudgeChecks.checkImageInput(s, m);
            JudgeChecks.checkOutputWidth(s, m, m.labels().size());
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        double threshold = thresholdOverride != null ? thresholdOverride : m.threshold();
        return new SafetyJudge(m, s, threshold);
    }

    public String name() {
        return manifest.name();
    }

    public double threshold() {
        return threshold;
    }

    /** One verdict per image, in order; never throws. */
    public List<SafetyVerdict> judge(List<RgbImage> images) {
        try {
            float[][] probabilities = classify(images);
            List<SafetyVerdict> out = new ArrayList<>(images.size());
            for (int i = 0; i < images.size(); i++) {
                out.add(i < probabilities.length ? decide(probabilities[i]) : SafetyVerdict.failed("no output row"));
            }
            return out;
        } catch (Exception | LinkageError e) {
            String why = "safety judge failed: " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage());
            return Collections.nCopies(images.size(), SafetyVerdict.failed(why));
        }
    }

    /** Applies the unsafe rule to one probability vector. */
    SafetyVerdict decide(float[] probabilities) {
        if (probabilities == null || probabilities.length != manifest.labels().size()) {
            return SafetyVerdict.failed("expected " + manifest.labels().size() + " probabilities");
        }
        double unsafe = 0;
        for (float p : probabilities) {
            if (!Float.isFinite(p)) {
                return SafetyVerdict.failed("non-finite probability");
            }
        }
        for (int i : unsafeIndexes) {
            unsafe += probabilities[i];
        }
        return new SafetyVerdict(unsafe < threshold ? Verdict.SAFE : Verdict.UNSAFE, unsafe, null);
    }

    /** Runs the model: one probability row per image. */
    protected float[][] classify(List<RgbImage> images) throws Exception {
        int labels = manifest.labels().size();
        try (OnnxTensor in = Tensors.floats(model.environment(), preprocessor.batch(images),
                preprocessor.shape(images.size()), model.input(manifest.imageInput().name()).type);
             OrtSession.Result r = model.run(Map.of(manifest.imageInput().name(), in))) {
            float[] flat = Tensors.readFloats(r, manifest.output().name());
            if (flat.length != images.size() * labels) {
                throw new IllegalStateException("output has " + flat.length + " values for " + images.size() + " images");
            }
            float[][] rows = new float[images.size()][labels];
            for (int i = 0; i < rows.length; i++) {
                System.arraycopy(flat, i * labels, rows[i], 0, labels);
            }
            return rows;
        }
    }

    @Override
    public void close() {
        if (model != null) {
            model.close();
        }
    }
}
