package dev.winnow.modelpack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reading a pack's files with errors that name the file and what was expected. */
public final class PackFiles {

    private static final ObjectMapper JSON = new ObjectMapper();

    private PackFiles() {
    }

    /** A required file; a {@link PackException} naming it and the pack layout when it is missing. */
    public static Path require(Path folder, String relative, String what) {
        Path file = folder.resolve(relative);
        if (!Files.isRegularFile(file)) {
            throw new PackException(file + ": not found (" + what + "). A pipeline pack has the layout that "
                    + "`optimum-cli export onnx` writes: model_index.json, scheduler/scheduler_config.json, "
                    + "tokenizer/{vocab.json,merges.txt} (or tokenizer/tokenizer.json), text_encoder/model.onnx, unet/model.onnx, vae_decoder/model.onnx");
        }
        return file;
    }

    /** Parses a JSON file; a {@link PackException} naming it when it is not JSON. */
    public static JsonNode json(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new PackException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** An optional JSON file, or an empty object. */
    public static JsonNode jsonIfPresent(Path file) {
        return Files.isRegularFile(file) ? json(file) : JSON.createObjectNode();
    }
}
