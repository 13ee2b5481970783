package dev.winnow.onnx;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** Joining work started in parallel (models opening at startup) without wrapping its errors. */
public final class Futures {

    private Futures() {
    }

    /**
     * The future's value, or the exception or error its work threw, as thrown: a caller sees
     * the same {@code PackException} or {@code ModelLoadException} as if it had done the work itself.
     */
    public static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }
}
