package dev.winnow.onnx;

/** A model file that cannot be used as it is; the message names the file, the input and what was expected. */
public class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
