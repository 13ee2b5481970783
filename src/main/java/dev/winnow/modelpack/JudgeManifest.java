package dev.winnow.modelpack;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * A judge's {@code judge.json} (schema version 1): what the model is for and how to feed it.
 *
 * <p>Safety judges give class probabilities; the unsafe probability is the sum of the
 * {@code unsafeLabels}' probabilities and a candidate is unsafe when it reaches
 * {@code threshold}. Score judges give one number per image, normalised for ranking with
 * {@code score.min}/{@code score.max}. {@code winnow_version} names the judge's version (read by
 * {@link JudgeManifests#read}: when absent, a hash of the folder's files, {@link PackVersion}).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record JudgeManifest(
        @JsonProperty("schema_version") int schemaVersion,
        String name,
        Role role,
        @JsonProperty("score_name") String scoreName,
        String model,
        String description,
        @JsonProperty("image_input") ImageInput imageInput,
        @JsonProperty("native_image_input") NativeImageInput nativeImageInput,
        @JsonProperty("text_input") TextInput textInput,
        Output output,
        List<String> labels,
        @JsonProperty("unsafe_labels") List<String> unsafeLabels,
        @JsonProperty("unsafe_rule") String unsafeRule,
        Double threshold,
        Score score,
        String license,
        @JsonProperty("winnow_version") String version) {

    /** The same manifest with {@code version} settled (declared, or the folder's content hash). */
    public JudgeManifest withVersion(String settled) {
        return new JudgeManifest(schemaVersion, name, role, scoreName, model, description, imageInput, nativeImageInput,
                textInput, output, labels, unsafeLabels, unsafeRule, threshold, score, license, settled);
    }

    public enum Role {
        @JsonProperty("safety") SAFETY,
        @JsonProperty("score") SCORE
    }

    /**
     * How an RGB image becomes the model's input tensor: resized to {@code width}×{@code height},
     * 0..255 mapped linearly onto {@code range}, then {@code (x - mean) / std} per channel.
     *
     * @param layout {@code NCHW} or {@code NHWC}
     * @param resize {@code bilinear}, {@code bilinear_align_corners}, {@code nearest}, {@code bicubic}
     *               (PIL's, antialiased) or {@code bilinear_antialias} (PIL's bilinear)
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ImageInput(String name, String layout, int width, int height, String resize,
                             List<Double> range, List<Double> mean, List<Double> std, String dtype, String crop) {
    }

    /**
     * A second image input that takes the candidate at its own size, unnormalised (the CompVis
     * safety checker's {@code images}, NHWC in [0, 1]).
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record NativeImageInput(String name, String layout, List<Double> range) {
    }

    /** The prompt input of a judge that needs one; {@code tokenizer} is a folder relative to the judge. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record TextInput(String name, String dtype, String tokenizer,
                            @JsonProperty("max_length") int maxLength,
                            @JsonProperty("pad_token") String padToken) {
    }

    /**
     * @param kind safety: {@code probabilities} (softmax already applied), {@code logits}
     *             (Winnow applies softmax) or {@code flag} (one unsafe flag per image, labels
     *             then read {@code ["safe", "<unsafe>"]}); scorers: {@code score}
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Output(String name, String kind) {
    }

    /** The range that maps a raw score onto [0, 1] for ranking. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Score(double min, double max,
                        @JsonProperty("higher_is_better") Boolean higherIsBetter) {
    }
}
