package dev.winnow.engine;

/**
 * A UNet call failed, and the device is not to blame: the same device still answers a plain
 * call, or the call was stopped by its deadline or by shutdown. The circuit breaker does not
 * count it; the cause says what failed.
 */
public class RequestFaultException extends Exception {
    public RequestFaultException(Throwable cause) {
        super(cause.getMessage(), cause);
    }
}
