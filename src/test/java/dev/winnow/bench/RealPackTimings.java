package dev.winnow.bench;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * What each model of a real Stable Diffusion pack costs through Winnow's own wrappers: the load,
 * a text encoding (one prompt and its negative: the two rows of a guided candidate), a UNet call
 * at 1, 2 and 4 rows, a VAE decode, at the pack's default size. Not a test (a full-size pack
 * takes minutes and gigabytes); docs/REAL-MODELS.md and docs/PERFORMANCE.md quote its printout:
 *
 * <pre>./mvnw -B test-compile exec:java -Pbench -Dbench.main=dev.winnow.bench.RealPackTimings -Dbench.args="PACK [--repeats 3]"</pre>
 *
 * Each figure is the median of {@code --repeats} calls after one warm-up call.
 */
public final class RealPackTimings {

    private RealPackTimings() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            throw new IllegalArgumentException("usage: RealPackTimings PACK [--repeats N]");
        }
        Path pack = Path.of(args[0]);
        int repeats = EngineBenchmark.intArg(args, "--repeats", 3);
        Runtime rt = Runtime.getRuntime();
        System.out.printf(Locale.ROOT, "Real pack timings — %s, %d cores, JDK %s, load average at start %s%n", pack,
                rt.availableProcessors(), Runtime.version(), EngineBenchmark.loadAverage());
        OnnxSessions sessions = OnnxSessions.create(DeviceChoice.CPU, 0, 0);
        long t0 = System.nanoTime();
        try (DiffusionPipeline p = DiffusionPipeline.load(pack, sessions)) {
            System.out.printf(Locale.ROOT, "load: %.1f s (%s, UNet timestep %s, text width %d, default size %d)%n",
                    (System.nanoTime() - t0) / 1e9, p.name(), p.unet().timestepKind(), p.unet().textWidth(), p.defaultSize());
            int latent = p.defaultSize() / p.vaeScale();
            int tokens = p.tokenizer().maxLength();
            System.out.printf(Locale.ROOT, "text encoder, prompt + negative prompt: %.0f ms%n",
                    median(repeats, () -> p.encodePrompt("a red circle left of a blue square", "")));
            for (int rows : new int[] {1, 2, 4}) {
                System.out.printf(Locale.ROOT, "UNet, %d row%s at %dx%d: %.0f ms per call%n", rows, rows == 1 ? "" : "s",
                        p.defaultSize(), p.defaultSize(), median(repeats, () -> EngineBenchmark.predict(p, rows, latent, tokens)));
            }
            float[] latents = new float[p.unet().channels() * latent * latent];
            System.out.printf(Locale.ROOT, "VAE decode, one image at %dx%d: %.0f ms%n", p.defaultSize(), p.defaultSize(),
                    median(repeats, () -> p.decodeLatents(List.of(latents), latent, latent, 1)));
        }
        System.out.printf(Locale.ROOT, "JVM heap used at the end: %.0f MB (the models' memory is native, outside the heap)%n",
                (rt.totalMemory() - rt.freeMemory()) / 1048576.0);
        System.exit(0);
    }

    interface Call {
        void run() throws Exception;
    }

    /** One warm-up call, then the median of {@code repeats} timed calls, in ms. */
    static double median(int repeats, Call call) throws Exception {
        call.run();
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            call.run();
            ms.add((System.nanoTime() - t0) / 1e6);
        }
        Collections.sort(ms);
        return ms.get(ms.size() / 2);
    }
}
