package dev.winnow.ops;

import dev.winnow.onnx.OnnxSessions;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

/**
 * The packaged service's entry point: Quarkus' own, after starting to load ONNX Runtime's
 * native library on a background thread, so that unpacking and linking it (a few hundred
 * milliseconds) overlaps Quarkus' start instead of following it. Dev and test modes do not
 * come through here.
 */
@QuarkusMain
public final class WinnowMain {

    private WinnowMain() {
    }

    public static void main(String... args) {
        Thread preload = new Thread(OnnxSessions::preloadNativeLibrary, "winnow-preload-onnxruntime");
        preload.setDaemon(true);
        preload.start();
        Quarkus.run(args);
    }
}
