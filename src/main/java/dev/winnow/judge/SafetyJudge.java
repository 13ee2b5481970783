package dev.winnow.judge;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.ModelVersion;
import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.modelpack.PackException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.RunTerminatedException;
import dev.winnow.onnx.Tensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * A safety classifier. <b>Fails closed</b>: a candidate is safe only when the model returned a
 * finite probability vector for it and the unsafe labels' summed probability is under the
 * threshold. An exception, a wrong-sized output or a NaN makes the candidate
 * {@link Verdict#SAFETY_ERROR}, never safe.
 */
public class SafetyJudge implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(SafetyJudge.class.getName());

    private final JudgeManifest manifest;
    private final ModelSession model;
    private final ImagePreprocessor preprocessor;
    private final int[] unsafeIndexes;
    private final double threshold;
    /** The element types of the image inputs, read once. */
    private final OnnxJavaType imageType;
    private final OnnxJavaType nativeImageType;
    /**
     * Set when a batched call of a judge with a native image input failed while the same images
     * one per call ran: diffusers' own ONNX export of the CompVis checker runs only batches of 1
     * and 3 (its {@code images[has_nsfw] = 0} became a Where that broadcasts the flags along the
     * RGB axis; diffusers' ONNX pipeline calls it one image at a time). Such a judge then gets one
     * image per call. A run cut by its deadline or a drain, or a fault that single images hit too,
     * says nothing about the graph's batch sizes and never sets it.
     */
    private volatile boolean oneImagePerCall;

    protected SafetyJudge(JudgeManifest manifest, ModelSession model, double threshold) {
        this.manifest = manifest;
        this.model = model;
        this.imageType = model == null ? null : model.input(manifest.imageInput().name()).type;
        this.nativeImageType = model == null || manifest.nativeImageInput() == null ? null
                : model.input(manifest.nativeImageInput().name()).type;
        this.preprocessor = manifest == null ? null : new ImagePreprocessor(manifest.imageInput());
        this.unsafeIndexes = manifest == null ? new int[0]
                : manifest.unsafeLabels().stream().mapToInt(manifest.labels()::indexOf).toArray();
        this.threshold = threshold;
    }

    /** The configuration key that overrides the manifest's threshold (named in its error). */
    public static final String THRESHOLD_KEY = "winnow.judges.safety.threshold";

    /**
     * @param thresholdOverride a configured threshold, or null for the manifest's
     * @throws IllegalArgumentException when the override is outside (0, 1], the range judge.json
     *         must keep to: at 0 or below every candidate is unsafe, above 1 (or NaN) none ever is,
     *         which would switch the safety filter off without a word
     */
    public static SafetyJudge load(Path folder, OnnxSessions sessions, Double thresholdOverride) {
        if (thresholdOverride != null && !(thresholdOverride > 0 && thresholdOverride <= 1)) {
            throw new IllegalArgumentException(THRESHOLD_KEY + " must be in (0, 1], as a judge.json threshold must, got "
                    + thresholdOverride + " (above 1 no candidate would ever be judged unsafe)");
        }
        JudgeManifest m = JudgeManifests.read(folder);
        if (m.role() != JudgeManifest.Role.SAFETY) {
            throw new PackException(folder.resolve("judge.json") + ": role is '" + m.role()
                    + "', but this path is configured as the safety judge");
        }
        ModelSession s = sessions.open(folder.resolve(m.model()));
        try {
            JudgeChecks.checkImageInput(s, m);
            JudgeChecks.checkOutputWidth(s, m, "flag".equals(m.output().kind()) ? 1 : m.labels().size());
            if (m.nativeImageInput() != null) {
                s.input(m.nativeImageInput().name());
            }
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

    /** Name and version ({@code winnow_version} in judge.json, else a hash of the judge's files). */
    public ModelVersion id() {
        return new ModelVersion(manifest.name(), manifest.version());
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

    /**
     * One probability row per image: in one call, or for a judge with a native image input whose
     * batched call failed as single images did not, one call per image (see {@link #oneImagePerCall}).
     */
    protected float[][] classify(List<RgbImage> images) throws Exception {
        if (images.size() <= 1 || manifest.nativeImageInput() == null) {
            return classifyInOneCall(images);
        }
        if (oneImagePerCall) {
            return oneByOne(images);
        }
        try {
            return classifyInOneCall(images);
        } catch (OrtException e) {
            if (!mayBeTheBatchSize(e)) {
                throw e;
            }
            // Throws, and batching stays on, when single images fail as well: then the batch was not the cause.
            float[][] rows = oneByOne(images);
            oneImagePerCall = true;
            LOG.warning(() -> "safety judge '" + manifest.name() + "' failed on a batch of " + images.size()
                    + " (" + e.getMessage() + ") and ran each of its images alone; judging one image per call from "
                    + "now on (diffusers' ONNX export of the CompVis checker runs batches of 1 and 3 only; "
                    + "export_sd.py's runs any)");
            return rows;
        }
    }

    /**
     * Whether a failed batched call may be the graph refusing the batch's size: not when its run
     * was cut (deadline, drain), and not when memory ran short (a smaller batch later may fit).
     */
    private static boolean mayBeTheBatchSize(OrtException e) {
        if (RunTerminatedException.in(e) != null) {
            return false;
        }
        String message = e.getMessage() == null ? "" : e.getMessage().toLowerCase(Locale.ROOT);
        return !message.contains("memory");
    }

    private float[][] oneByOne(List<RgbImage> images) throws Exception {
        float[][] rows = new float[images.size()][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = classifyInOneCall(List.of(images.get(i)))[0];
        }
        return rows;
    }

    /** Runs the model once: one probability row per image (softmax applied to logits, flags turned into [1-f, f]). */
    protected float[][] classifyInOneCall(List<RgbImage> images) throws Exception {
        int labels = manifest.labels().size();
        String kind = manifest.output().kind() == null ? "probabilities" : manifest.output().kind();
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put(manifest.imageInput().name(), Tensors.floats(model.environment(), preprocessor.scratchBatch(images),
                    preprocessor.shape(images.size()), imageType));
            if (manifest.nativeImageInput() != null) {
                in.put(manifest.nativeImageInput().name(), nativeImages(images));
            }
            try (OrtSession.Result r = model.run(in)) {
                float[] flat = Tensors.readAsFloats(r, manifest.output().name());
                int perRow = "flag".equals(kind) ? 1 : labels;
                if (flat.length != images.size() * perRow) {
                    throw new IllegalStateException("output has " + flat.length + " values for " + images.size() + " images");
                }
                float[][] rows = new float[images.size()][labels];
                for (int i = 0; i < rows.length; i++) {
                    if ("flag".equals(kind)) {
                        rows[i][0] = 1f - flat[i];
                        rows[i][1] = flat[i];
                    } else {
                        System.arraycopy(flat, i * labels, rows[i], 0, labels);
                        if ("logits".equals(kind)) {
                            softmax(rows[i]);
                        }
                    }
                }
                return rows;
            }
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }

    /** The candidates at their own size, NHWC, 0..255 mapped onto the declared range (all the same size). */
    private OnnxTensor nativeImages(List<RgbImage> images) throws Exception {
        JudgeManifest.NativeImageInput n = manifest.nativeImageInput();
        RgbImage first = images.get(0);
        float low = n.range() == null ? 0f : n.range().get(0).floatValue();
        float high = n.range() == null ? 1f : n.range().get(1).floatValue();
        int plane = first.width() * first.height();
        float[] data = new float[images.size() * plane * 3];
        boolean nchw = "NCHW".equals(n.layout());
        for (int b = 0; b < images.size(); b++) {
            byte[] rgb = images.get(b).rgb();
            for (int i = 0; i < plane; i++) {
                for (int c = 0; c < 3; c++) {
                    float v = low + (high - low) * ((rgb[i * 3 + c] & 0xff) / 255f);
                    data[b * plane * 3 + (nchw ? c * plane + i : i * 3 + c)] = v;
                }
            }
        }
        long[] shape = nchw ? new long[] {images.size(), 3, first.height(), first.width()}
                : new long[] {images.size(), first.height(), first.width(), 3};
        return Tensors.floats(model.environment(), data, shape, nativeImageType);
    }

    private static void softmax(float[] row) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            e[i] = Math.exp(row[i] - max);
            sum += e[i];
        }
        for (int i = 0; i < row.length; i++) {
            row[i] = (float) (e[i] / sum);
        }
    }

    @Override
    public void close() {
        if (model != null) {
            model.close();
        }
    }
}
