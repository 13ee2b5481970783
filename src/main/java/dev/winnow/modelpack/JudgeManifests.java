package dev.winnow.modelpack;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.image.Resize;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Reads and validates {@code judge.json}; every problem names the file and the field. */
public final class JudgeManifests {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final Set<String> LAYOUTS = Set.of("NCHW", "NHWC");
    private static final List<String> RESIZES = Resize.Mode.manifestNames();
    private static final Set<String> SAFETY_OUTPUTS = Set.of("probabilities", "logits", "flag");

    private JudgeManifests() {
    }

    /** Reads {@code folder/judge.json}; its {@code version} is settled: declared, or the folder's content hash. */
    public static JudgeManifest read(Path folder) {
        Path file = folder.resolve("judge.json");
        if (!Files.isRegularFile(file)) {
            throw new PackException(file + ": not found (a judge folder holds model.onnx and judge.json)");
        }
        JudgeManifest m;
        try {
            m = JSON.readValue(file.toFile(), JudgeManifest.class);
        } catch (IOException e) {
            throw new PackException(file + ": not a valid judge manifest: " + e.getMessage(), e);
        }
        List<String> problems = validate(m, folder);
        if (!problems.isEmpty()) {
            throw new PackException(file + ": " + String.join("; ", problems));
        }
        return m.withVersion(PackVersion.of(folder, m.version()));
    }

    static List<String> validate(JudgeManifest m, Path folder) {
        List<String> p = new ArrayList<>();
        if (m.schemaVersion() != 1) {
            p.add("schema_version must be 1, got " + m.schemaVersion());
        }
        if (m.role() == null) {
            p.add("role must be 'safety' or 'score'");
        }
        if (m.model() == null || !Files.isRegularFile(folder.resolve(m.model()))) {
            p.add("model: file '" + m.model() + "' not found in " + folder);
        }
        JudgeManifest.ImageInput in = m.imageInput();
        if (in == null) {
            p.add("image_input is required");
        } else {
            if (in.name() == null) {
                p.add("image_input.name is required");
            }
            if (!LAYOUTS.contains(in.layout())) {
                p.add("image_input.layout must be NCHW or NHWC, got " + in.layout());
            }
            if (in.width() <= 0 || in.height() <= 0) {
                p.add("image_input.width/height must be positive");
            }
            if (!RESIZES.contains(in.resize())) {
                p.add("image_input.resize must be one of " + RESIZES + ", got " + in.resize());
            }
            if (in.crop() != null && !"center".equals(in.crop())) {
                p.add("image_input.crop must be 'center' or absent, got " + in.crop());
            }
            if (in.range() == null || in.range().size() != 2) {
                p.add("image_input.range must be [low, high]");
            }
            if (in.mean() == null || in.mean().size() != 3 || in.std() == null || in.std().size() != 3
                    || in.std().stream().anyMatch(s -> s == 0)) {
                p.add("image_input.mean and image_input.std must have 3 values, std non-zero");
            }
        }
        if (m.output() == null || m.output().name() == null) {
            p.add("output.name is required");
        }
        if (m.role() == JudgeManifest.Role.SAFETY) {
            if (m.labels() == null || m.labels().isEmpty()) {
                p.add("labels are required for a safety judge");
            } else if (m.unsafeLabels() == null || m.unsafeLabels().isEmpty()
                    || !m.labels().containsAll(m.unsafeLabels())) {
                p.add("unsafe_labels must be a non-empty subset of labels");
            }
            if (m.threshold() == null || !(m.threshold() > 0 && m.threshold() <= 1)) {
                p.add("threshold must be in (0, 1], got " + m.threshold());
            }
            if (m.output() != null && m.output().kind() != null && !SAFETY_OUTPUTS.contains(m.output().kind())) {
                p.add("output.kind of a safety judge must be one of " + SAFETY_OUTPUTS + ", got " + m.output().kind());
            }
            if (m.output() != null && "flag".equals(m.output().kind()) && (m.labels() == null || m.labels().size() != 2)) {
                p.add("a flag output needs exactly two labels: [safe, unsafe]");
            }
            if (m.unsafeRule() != null && !"sum".equals(m.unsafeRule())) {
                p.add("unsafe_rule must be 'sum', got " + m.unsafeRule());
            }
        }
        if (m.role() == JudgeManifest.Role.SCORE) {
            if (m.scoreName() == null || m.scoreName().isBlank()) {
                p.add("score_name is required for a score judge");
            }
            if (m.score() == null || !(m.score().max() > m.score().min())) {
                p.add("score.min must be below score.max");
            }
        }
        if (m.textInput() != null && (m.textInput().name() == null || m.textInput().tokenizer() == null)) {
            p.add("text_input needs name and tokenizer");
        }
        return p;
    }
}
