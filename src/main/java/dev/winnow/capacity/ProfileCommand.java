package dev.winnow.capacity;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.PromptEmbedding;
import dev.winnow.engine.JobState;
import dev.winnow.engine.JobView;
import dev.winnow.engine.StepScheduler;
import dev.winnow.image.PngEncoder;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Times the real pack and judges on the node it runs on, through Winnow's own model wrappers, and
 * writes a {@link DeviceProfile} (docs/CAPACITY.md):
 *
 * <pre>
 * ./mvnw -B -q compile exec:java -Pbench -Dbench.main=dev.winnow.capacity.ProfileCommand \
 *     -Dbench.args="--out target/capacity/cpu-profile.json [--device cpu|cuda] [--rounds 7] [--pack DIR] [--no-overlap]"
 * </pre>
 *
 * The packs are those of {@code src/main/resources/application.properties} unless given
 * ({@code --pack}, {@code --safety}, {@code --aesthetic}, {@code --faithfulness}, {@code --preview}).
 * Each call is timed in its turn: a warm-up call, then {@code --rounds} calls in a row, the median
 * (what the engine's steady state makes: the same shapes step after step); {@code --interleaved}
 * times every size once per round instead, after a warm-up round.
 * The UNet is timed as the engine calls it (a step of slots through its reused buffers and the
 * samplers), so its curve includes the host's cost per row; the VAE through the engine's decode.
 * Host costs: the scheduler's plan for 16 jobs (per step), the PNG and its base64 (per job).
 * Then the overlap ({@link DeviceProfile.Overlap}; {@code --no-overlap} leaves it out): an 8-row
 * UNet step timed while a finishing thread's work for a best-of-4 (decode 4, safety, aesthetic,
 * faithfulness) runs beside it in a loop on another thread, and that work timed beside the steps,
 * each over its time alone.
 */
public final class ProfileCommand {

    static final String PROMPT = "two green triangles to the left of a red circle";
    static final int[] UNET_ROWS = {1, 2, 4, 8, 16, 32};
    static final int[] VAE_IMAGES = {1, 2, 4, 8};
    static final int[] JUDGE_IMAGES = {1, 2, 4, 8, 16};

    private ProfileCommand() {
    }

    interface Call {
        void run() throws Exception;
    }

    /**
     * Runs on a thread with a 16 MB stack: launched with {@code java -cp}, ONNX Runtime's calls on
     * the launcher's main thread crashed the JVM (SIGSEGV) on the 2-core development machine, as
     * they did not under {@code -Xss16m} or Maven's exec:java.
     */
    public static void main(String[] args) throws Exception {
        Throwable[] failure = new Throwable[1];
        Thread t = new Thread(null, () -> {
            try {
                profile(args);
            } catch (Throwable e) {
                failure[0] = e;
            }
        }, "winnow-profile", 16L << 20);
        t.start();
        t.join();
        if (failure[0] != null) {
            failure[0].printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    static void profile(String[] args) throws Exception {
        Properties defaults = new Properties();
        try (Reader r = Files.newBufferedReader(Path.of("src/main/resources/application.properties"))) {
            defaults.load(r);
        }
        Path out = Path.of(CapacityCommand.arg(args, "--out", "target/capacity/profile.json"));
        DeviceChoice device = DeviceChoice.valueOf(CapacityCommand.arg(args, "--device", "cpu").toUpperCase(Locale.ROOT));
        int rounds = Integer.parseInt(CapacityCommand.arg(args, "--rounds", "7"));
        Path pack = Path.of(CapacityCommand.arg(args, "--pack", defaults.getProperty("winnow.pipeline.path")));
        Path safetyPath = Path.of(CapacityCommand.arg(args, "--safety", defaults.getProperty("winnow.judges.safety.path")));
        Path aestheticPath = Path.of(CapacityCommand.arg(args, "--aesthetic", defaults.getProperty("winnow.judges.aesthetic.path")));
        Path faithfulPath = Path.of(CapacityCommand.arg(args, "--faithfulness", defaults.getProperty("winnow.judges.faithfulness.path")));
        String previewDefault = defaults.getProperty("winnow.prune.judge-path", "").trim();
        Path previewPath = Path.of(CapacityCommand.arg(args, "--preview", previewDefault.isEmpty() ? faithfulPath.toString() : previewDefault));

        OnnxSessions sessions = OnnxSessions.create(device, 0, 0);
        try (DiffusionPipeline p = DiffusionPipeline.load(pack, sessions);
             SafetyJudge safety = SafetyJudge.load(safetyPath, sessions, null);
             ScoreJudge aesthetic = ScoreJudge.load(aestheticPath, sessions);
             ScoreJudge faithful = ScoreJudge.load(faithfulPath, sessions);
             ScoreJudge preview = ScoreJudge.load(previewPath, sessions)) {
            int size = p.defaultSize();
            int latent = size / p.vaeScale();
            int tokens = p.tokenizer().maxLength();
            PromptEmbedding prompt = p.encodePrompt(PROMPT, "");
            List<RgbImage> images = new ArrayList<>();
            float[] x = new float[p.unet().channels() * latent * latent];
            for (int i = 0; i < 16; i++) {
                Arrays.fill(x, (i % 7) / 7f - 0.5f);
                images.add(p.decodeLatents(List.of(x.clone()), latent, latent, 1).get(0));
            }

            Map<String, Call> calls = new LinkedHashMap<>();
            calls.put("text_encoder/1", () -> p.encodePrompt(PROMPT, ""));
            calls.put("text_encoder/2", () -> p.encodePrompt(PROMPT, "blurry, low quality"));
            // The UNet as the engine calls it: one step of slots (2 rows a guided candidate, 1 unguided),
            // through the engine's own path (its reused buffers, the samplers' step), so the curve
            // includes the host's cost per row.
            for (int rows : UNET_ROWS) {
                List<DenoisingSlot> slots = new ArrayList<>();
                calls.put("unet/" + rows, () -> {
                    if (slots.isEmpty() || slots.get(0).isDone()) {
                        slots.clear();
                        for (int i = 0; i < Math.max(1, rows / 2); i++) {
                            slots.add(p.newSlot(i, prompt, "ddim", 50, rows == 1 ? 1.0 : 5.0, size, size));
                        }
                    }
                    p.step(slots);
                });
            }
            // The raw 16-row call beside it: the host's share, for the record.
            float[] sample = new float[16 * p.unet().channels() * latent * latent];
            float[] states = new float[16 * tokens * p.unet().textWidth()];
            double[] t16 = new double[16];
            Arrays.fill(t16, 500);
            calls.put("raw_unet/16", () -> p.unet().predict(sample, 16, latent, latent, t16, states, tokens));
            for (int k : VAE_IMAGES) {
                List<DenoisingSlot> toDecode = new ArrayList<>();
                for (int i = 0; i < k; i++) {
                    toDecode.add(p.newSlot(100 + i, prompt, "ddim", 20, 5.0, size, size));
                }
                calls.put("vae_decoder/" + k, () -> p.decode(toDecode, k));
            }
            for (int k : JUDGE_IMAGES) {
                List<RgbImage> some = images.subList(0, k);
                calls.put("safety/" + k, () -> safety.judge(some));
                calls.put("aesthetic/" + k, () -> aesthetic.score(some, PROMPT));
                calls.put("faithfulness/" + k, () -> faithful.score(some, PROMPT));
                calls.put("preview/" + k, () -> preview.score(some, PROMPT));
            }
            List<JobView> views = planViews();
            StepScheduler.Capacity cap = new StepScheduler.Capacity(16, true);
            calls.put("plan", () -> {
                for (int i = 0; i < 100; i++) {
                    StepScheduler.plan(views, cap, 0);
                }
            });
            RgbImage png = images.get(3);
            calls.put("png", () -> Base64.getEncoder().encodeToString(PngEncoder.encode(png, Map.of("parameters", PROMPT))));

            System.out.printf(Locale.ROOT, "profiling %s (%s, %dx%d) and its judges on %s: %d rounds, load average %s%n",
                    p.name(), pack, size, size, device, rounds, loadAverage());
            boolean interleaved = List.of(args).contains("--interleaved");
            Map<String, Double> ms = interleaved ? time(calls, rounds) : timeInTurn(calls, rounds);
            ms.forEach((k, v) -> System.out.printf(Locale.ROOT, "  %-16s %9.3f ms%n", k, v));

            DeviceProfile.Overlap overlap = null;
            if (!List.of(args).contains("--no-overlap")) {
                List<DenoisingSlot> four = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    four.add(p.newSlot(200 + i, prompt, "ddim", 20, 5.0, size, size));
                }
                List<RgbImage> judged = images.subList(0, 4);
                Call finishing = () -> {
                    p.decode(four, 4);
                    safety.judge(judged);
                    aesthetic.score(judged, PROMPT);
                    faithful.score(judged, PROMPT);
                };
                overlap = overlap(calls.get("unet/8"), finishing, Math.max(rounds, 5));
                System.out.printf(Locale.ROOT, "  overlap: a UNet step of 8 rows %.2fx its time alone beside a best-of-4's "
                        + "finishing work, that work %.2fx beside the steps%n", overlap.loopSlowdown(), overlap.finishingSlowdown());
            }

            Map<String, Curve> judges = new LinkedHashMap<>();
            judges.put("safety", curve(ms, "safety", JUDGE_IMAGES));
            judges.put("aesthetic", curve(ms, "aesthetic", JUDGE_IMAGES));
            judges.put("faithfulness", curve(ms, "faithfulness", JUDGE_IMAGES));
            judges.put("preview", curve(ms, "preview", JUDGE_IMAGES));
            double stepMs = ms.get("plan") / 100;
            DeviceProfile profile = new DeviceProfile(
                    device + " (" + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch") + ")",
                    LocalDate.now().toString(),
                    "ProfileCommand: " + p.name() + " at " + size + "x" + size + " with " + safetyPath + ", " + aestheticPath + ", "
                            + faithfulPath + ", preview " + previewPath + "; medians of " + rounds
                            + (interleaved ? " interleaved rounds;" : " calls in a row after a warm-up, each call in its turn;")
                            + " UNet timed as the engine's step (host cost per row included, so row_ms 0;"
                            + " the raw 16-row call took " + String.format(Locale.ROOT, "%.2f", ms.get("raw_unet/16"))
                            + " ms)" + (overlap == null ? "; no overlap measured (one call at a time)"
                            : "; overlap: UNet step beside a best-of-4's finishing work and that work beside the steps, each over"
                            + " its time alone") + "; load average at start " + loadAverage(),
                    curve(ms, "text_encoder", new int[] {1, 2}), curve(ms, "unet", UNET_ROWS), curve(ms, "vae_decoder", VAE_IMAGES),
                    judges, new DeviceProfile.Host(stepMs, 0, ms.get("png")), p.unet().acceptsPerRowTimesteps(), overlap);
            profile.write(out);
            System.out.println("wrote " + out);
        }
    }

    /**
     * How much slower the loop's call and the finisher's work are when they run at once (the
     * engine's loop thread and a finishing thread do): each is timed alone ({@code rounds} times,
     * the median), then both run together, the finishing work looping on its own thread (16 MB
     * stack, like the profile's) while the loop call repeats until that work has run
     * {@code rounds} times beside it; the first of each, which may start alone, is left out.
     */
    static DeviceProfile.Overlap overlap(Call loopCall, Call finishing, int rounds) throws Exception {
        double loopAlone = median(loopCall, rounds);
        double finishingAlone = median(finishing, rounds);
        List<Double> finishingBeside = Collections.synchronizedList(new ArrayList<>());
        Throwable[] failure = new Throwable[1];
        AtomicBoolean stop = new AtomicBoolean();
        Thread beside = new Thread(null, () -> {
            try {
                while (!stop.get()) {
                    long t0 = System.nanoTime();
                    finishing.run();
                    finishingBeside.add((System.nanoTime() - t0) / 1e6);
                }
            } catch (Throwable e) {
                failure[0] = e;
            }
        }, "winnow-profile-finishing", 16L << 20);
        List<Double> loopBeside = new ArrayList<>();
        beside.start();
        try {
            while ((finishingBeside.size() <= rounds || loopBeside.size() <= rounds) && failure[0] == null) {
                long t0 = System.nanoTime();
                loopCall.run();
                loopBeside.add((System.nanoTime() - t0) / 1e6);
            }
        } finally {
            stop.set(true);
            beside.join();
        }
        if (failure[0] != null) {
            throw new IllegalStateException("the finishing work failed beside the UNet", failure[0]);
        }
        List<Double> f;
        synchronized (finishingBeside) {
            f = new ArrayList<>(finishingBeside);
        }
        return new DeviceProfile.Overlap(Math.max(1, median(loopBeside.subList(1, loopBeside.size())) / loopAlone),
                Math.max(1, median(f.subList(1, f.size())) / finishingAlone));
    }

    static double median(Call c, int rounds) throws Exception {
        return timeInTurn(Map.of("call", c), rounds).get("call");
    }

    static double median(List<Double> values) {
        List<Double> v = new ArrayList<>(values);
        Collections.sort(v);
        return v.get(v.size() / 2);
    }

    /** 16 jobs of 4 guided candidates mid-way: what a busy engine's plan sees. */
    static List<JobView> planViews() {
        List<JobView> views = new ArrayList<>();
        for (int j = 0; j < 16; j++) {
            List<JobView.Slot> slots = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                slots.add(new JobView.Slot(i, "64x64", 2, j, 20, 500.0 - j, false, false));
            }
            views.add(new JobView(j, JobState.DENOISING, "models", true, Long.MAX_VALUE / 2, Integer.MAX_VALUE, slots));
        }
        return views;
    }

    /**
     * Each call in its turn: one warm-up call, then {@code rounds} calls in a row; the median, in ms.
     * A call repeated in a row is what the engine's steady state makes (the same shapes step
     * after step), and ONNX Runtime keeps its memory plan for a shape while it repeats.
     */
    static Map<String, Double> timeInTurn(Map<String, Call> calls, int rounds) throws Exception {
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Call> e : calls.entrySet()) {
            e.getValue().run();
            List<Double> ms = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                e.getValue().run();
                ms.add((System.nanoTime() - t0) / 1e6);
            }
            out.put(e.getKey(), median(ms));
        }
        return out;
    }

    /** A warm-up round, then {@code rounds} rounds timing every call once, interleaved; the median per call, in ms. */
    static Map<String, Double> time(Map<String, Call> calls, int rounds) throws Exception {
        for (Call c : calls.values()) {
            c.run();
        }
        Map<String, List<Double>> all = new LinkedHashMap<>();
        for (int r = 0; r < rounds; r++) {
            for (Map.Entry<String, Call> e : calls.entrySet()) {
                long t0 = System.nanoTime();
                e.getValue().run();
                all.computeIfAbsent(e.getKey(), k -> new ArrayList<>()).add((System.nanoTime() - t0) / 1e6);
            }
        }
        Map<String, Double> out = new LinkedHashMap<>();
        all.forEach((k, v) -> out.put(k, median(v)));
        return out;
    }

    static Curve curve(Map<String, Double> ms, String part, int[] sizes) {
        List<Integer> s = new ArrayList<>();
        List<Double> m = new ArrayList<>();
        double last = 0;
        for (int k : sizes) {
            s.add(k);
            last = Math.max(last, ms.get(part + "/" + k)); // a larger call never costs less (noise aside)
            m.add(last);
        }
        return new Curve(s, m);
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException e) {
            return "unknown";
        }
    }
}
