package dev.winnow.onnx;

/** The configured device cannot be used; the message says what is missing. */
public class DeviceUnavailableException extends RuntimeException {
    public DeviceUnavailableException(String message) {
        super(message);
    }
}
