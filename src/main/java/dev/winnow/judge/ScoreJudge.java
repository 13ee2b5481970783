package dev.winnow.judge;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.ModelVersion;
import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.modelpack.PackException;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.Tensors;
import dev.winnow.tokenizer.ClipTokenizer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A scorer: one number per image (aesthetic reward, prompt faithfulness, ...). Judges that
 * need the prompt ({@code text_input} in judge.json) tokenize it with their own tokenizer.
 * Raw scores are normalised to [0, 1] with the manifest's {@code score.min/max} for ranking.
 */
public final class ScoreJudge implements AutoCloseable {

    private final JudgeManifest manifest;
    private final ModelSession model;
    private final ImagePreprocessor preprocessor;
    private final ClipTokenizer tokenizer;
    private final OnnxJavaType idType;
    private final OnnxJavaType imageType;

    private ScoreJudge(JudgeManifest manifest, ModelSession model, ClipTokenizer tokenizer, OnnxJavaType idType) {
        this.manifest = manifest;
        this.model = model;
        this.preprocessor = new ImagePreprocessor(manifest.imageInput());
        this.tokenizer = tokenizer;
        this.idType = idType;
        this.imageType = model.input(manifest.imageInput().name()).type;
    }

    public static ScoreJudge load(Path folder, OnnxSessions sessions) {
        JudgeManifest m = JudgeManifests.read(folder);
        if (m.role() != JudgeManifest.Role.SCORE) {
            throw new PackException(folder.resolve("judge.json") + ": role is '" + m.role()
                    + "', but this path is configured as a scorer");
        }
        ModelSession s = sessions.open(folder.resolve(m.model()));
        try {
            JudgeChecks.checkImageInput(s, m);
            JudgeChecks.checkOutputWidth(s, m, 1);
            ClipTokenizer tok = null;
            OnnxJavaType idType = null;
            if (m.textInput() != null) {
                JudgeManifest.TextInput t = m.textInput();
                TensorInfo ids = s.input(t.name());
                if (ids.type != OnnxJavaType.INT32 && ids.type != OnnxJavaType.INT64) {
                    throw new PackException(s.file() + ": input '" + t.name() + "' is " + ids.type + ", expected int32 or int64 ids");
                }
                idType = ids.type;
                String pad = t.padToken() == null ? ClipTokenizer.END_TOKEN : t.padToken();
                tok = ClipTokenizer.load(folder.resolve(t.tokenizer()), t.maxLength(), pad);
            }
            return new ScoreJudge(m, s, tok, idType);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** The judge's own name (its judge.json {@code name}). */
    public String name() {
        return manifest.name();
    }

    /** Name and version ({@code winnow_version} in judge.json, else a hash of the judge's files). */
    public ModelVersion id() {
        return new ModelVersion(manifest.name(), manifest.version());
    }

    /** The score's name in responses and ranking weights ({@code aesthetic}, {@code faithfulness}). */
    public String scoreName() {
        return manifest.scoreName();
    }

    public boolean needsPrompt() {
        return tokenizer != null;
    }

    /**
     * Raw scores, one per image, all for one prompt, in one model call. One job's images only:
     * a scorer's rows are not independent of the batch they are in (engine's SharedJudging calls
     * it per job for that reason).
     */
    public double[] score(List<RgbImage> images, String prompt) throws Exception {
        int b = images.size();
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put(manifest.imageInput().name(), Tensors.floats(model.environment(), preprocessor.scratchBatch(images),
                    preprocessor.shape(b), imageType));
            if (tokenizer != null) {
                int len = tokenizer.maxLength();
                int[] ids = tokenizer.tokenize(prompt).inputIds();
                int[] rows = new int[b * len];
                for (int i = 0; i < b; i++) {
                    System.arraycopy(ids, 0, rows, i * len, len);
                }
                in.put(manifest.textInput().name(), Tensors.ids(model.environment(), rows, new long[] {b, len}, idType));
            }
            try (OrtSession.Result r = model.run(in)) {
                float[] flat = Tensors.readFloats(r, manifest.output().name());
                if (flat.length != b) {
                    throw new IllegalStateException(manifest.name() + " returned " + flat.length + " scores for " + b + " images");
                }
                double[] out = new double[b];
                for (int i = 0; i < b; i++) {
                    out[i] = flat[i];
                }
                return out;
            }
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * Maps a raw score onto [0, 1] with the manifest's range (higher is better). A NaN stays NaN
     * (no score: the ranking then leaves this scorer out for that candidate, see {@link RankingPolicy}).
     */
    public double normalise(double raw) {
        if (Double.isNaN(raw)) {
            return Double.NaN;
        }
        JudgeManifest.Score s = manifest.score();
        double unit = (raw - s.min()) / (s.max() - s.min());
        if (Boolean.FALSE.equals(s.higherIsBetter())) {
            unit = 1 - unit;
        }
        return Math.max(0, Math.min(1, unit));
    }

    @Override
    public void close() {
        model.close();
    }
}
