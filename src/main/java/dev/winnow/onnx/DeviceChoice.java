package dev.winnow.onnx;

import java.util.Locale;

/** {@code winnow.device}: where the models run. */
public enum DeviceChoice {
    /** CUDA when the runtime has it, else CPU with a warning. */
    AUTO,
    CPU,
    /** CUDA or a startup error that says what is missing. */
    CUDA;

    public static DeviceChoice parse(String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("winnow.device must be auto, cpu or cuda, got '" + value + "'", e);
        }
    }
}
