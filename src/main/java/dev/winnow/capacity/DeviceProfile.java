package dev.winnow.capacity;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a device's calls cost: the cost model the {@link Simulator} runs the engine's scheduler on.
 * Written by {@link ProfileCommand} (the real pack, timed on the node it runs on) or read from
 * measured curves ({@link H200Profiles}); the format is in docs/CAPACITY.md:
 *
 * <pre>
 * {"format": "winnow-device-profile/1", "device": "…", "measured": "…", "source": "…",
 *  "text_encoder": {"sizes": [1, 2], "ms": [2.1, 3.0]},          prompts per call
 *  "unet":         {"sizes": [1, 2, 4, …], "ms": [4.5, 7.2, …]},   rows per call
 *  "vae_decoder":  {"sizes": [1, 2, 4, 8], "ms": […]},             images per call
 *  "judges": {"safety": {…}, "aesthetic": {…}, "faithfulness": {…}, "preview": {…}},   images per call
 *  "host": {"step_ms": 0.05, "row_ms": 0.02, "job_ms": 0.3},
 *  "per_row_timesteps": true,
 *  "overlap": {"loop_slowdown": 1.3, "finishing_slowdown": 1.6}}   optional: see {@link Overlap}
 * </pre>
 *
 * @param device          the device, in words
 * @param measured        when (a date)
 * @param source          how the figures were taken
 * @param textEncoder     one text-encoder call by prompts (a prompt, or a prompt and its negative)
 * @param unet            one UNet call by rows (a guided candidate-step is two rows)
 * @param vaeDecoder      one VAE decoder call by images
 * @param judges          one call of each judge by images, by role: {@code safety} judges every
 *                        finished image, {@code preview} scores x̂₀ previews when a job prunes,
 *                        every other role is a scorer of finished images
 * @param host            the engine's own costs outside the model calls
 * @param perRowTimesteps whether the UNet takes a timestep per row (else rows at different
 *                        timesteps take a call each)
 * @param overlap         how the loop's calls and the finishing threads' calls share the device when
 *                        they run at once; {@code null}: they do not run at once (one call at a time,
 *                        first issued first served, as kernels from several threads share one GPU)
 */
public record DeviceProfile(String device, String measured, String source, Curve textEncoder, Curve unet, Curve vaeDecoder,
                            Map<String, Curve> judges, Host host, boolean perRowTimesteps, Overlap overlap) {

    /** The format name a profile file carries. */
    public static final String FORMAT = "winnow-device-profile/1";

    /**
     * The engine's costs around the model calls, on the host.
     *
     * @param stepMs per engine-loop step that makes UNet calls: planning, bookkeeping
     * @param rowMs  per UNet row of a call: packing latents, the samplers' arithmetic, guidance
     * @param jobMs  per answered job, after its judging: the PNG and the response (on an HTTP
     *               worker, so it adds to the job's latency and holds nothing else up)
     */
    public record Host(double stepMs, double rowMs, double jobMs) {
        public Host {
            if (!(stepMs >= 0 && rowMs >= 0 && jobMs >= 0)) {
                throw new IllegalArgumentException("host costs must be non-negative");
            }
        }
    }

    /**
     * Two calls at once, one from the loop (text encoder, UNet) and one from a finishing thread
     * (VAE, judges), each slower than alone by its factor: on a CPU both run on the cores at once,
     * and a small model's call does not use every core, so together they finish sooner than one
     * after the other (factors under 2), which a one-call-at-a-time device would not credit.
     * {@link ProfileCommand} measures the factors: a UNet step timed while the finishing calls run
     * beside it in a loop, and those calls timed beside the steps.
     *
     * @param loopSlowdown      a loop call's time beside a finishing call, over its time alone
     * @param finishingSlowdown a finishing call's time beside a loop call, over its time alone
     */
    public record Overlap(double loopSlowdown, double finishingSlowdown) {
        public Overlap {
            if (!(loopSlowdown >= 1 && finishingSlowdown >= 1) || Double.isInfinite(loopSlowdown)
                    || Double.isInfinite(finishingSlowdown)) {
                throw new IllegalArgumentException("overlap slowdowns must be finite and at least 1 (a call is never faster beside another)");
            }
        }
    }

    /** The profile without overlap: for the curves of a device that runs one call at a time. */
    public DeviceProfile(String device, String measured, String source, Curve textEncoder, Curve unet, Curve vaeDecoder,
                         Map<String, Curve> judges, Host host, boolean perRowTimesteps) {
        this(device, measured, source, textEncoder, unet, vaeDecoder, judges, host, perRowTimesteps, null);
    }

    public DeviceProfile {
        judges = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(judges));
        if (!judges.containsKey("safety")) {
            throw new IllegalArgumentException("a device profile needs the safety judge's curve (judges.safety)");
        }
    }

    /** The scorers' curves: every judge but {@code safety} and {@code preview}. */
    public List<Curve> scorers() {
        List<Curve> out = new ArrayList<>();
        judges.forEach((role, c) -> {
            if (!role.equals("safety") && !role.equals("preview")) {
                out.add(c);
            }
        });
        return out;
    }

    /** The curve of the judge that scores previews: {@code preview}, else {@code faithfulness}, else the safety judge's. */
    public Curve previewJudge() {
        return judges.getOrDefault("preview", judges.getOrDefault("faithfulness", judges.get("safety")));
    }

    /** The same profile with other host costs. */
    public DeviceProfile withHost(Host h) {
        return new DeviceProfile(device, measured, source, textEncoder, unet, vaeDecoder, judges, h, perRowTimesteps, overlap);
    }

    /** The same profile with another overlap ({@code null}: one call at a time). */
    public DeviceProfile withOverlap(Overlap o) {
        return new DeviceProfile(device, measured, source, textEncoder, unet, vaeDecoder, judges, host, perRowTimesteps, o);
    }

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Reads a profile file. */
    public static DeviceProfile read(Path file) throws IOException {
        JsonNode root = JSON.readTree(file.toFile());
        String format = root.path("format").asText("");
        if (!format.equals(FORMAT)) {
            throw new IOException(file + ": not a device profile (format \"" + format + "\", expected \"" + FORMAT
                    + "\"; for the shared H200 curves use --h200)");
        }
        Map<String, Curve> judges = new LinkedHashMap<>();
        root.path("judges").fields().forEachRemaining(e -> judges.put(e.getKey(), curve(e.getValue(), file, "judges." + e.getKey())));
        JsonNode h = root.path("host");
        JsonNode o = root.path("overlap");
        Overlap overlap = o.isObject()
                ? new Overlap(o.path("loop_slowdown").asDouble(Double.NaN), o.path("finishing_slowdown").asDouble(Double.NaN))
                : null;
        return new DeviceProfile(root.path("device").asText(""), root.path("measured").asText(""),
                root.path("source").asText(""), curve(root.path("text_encoder"), file, "text_encoder"),
                curve(root.path("unet"), file, "unet"), curve(root.path("vae_decoder"), file, "vae_decoder"), judges,
                new Host(h.path("step_ms").asDouble(0), h.path("row_ms").asDouble(0), h.path("job_ms").asDouble(0)),
                root.path("per_row_timesteps").asBoolean(true), overlap);
    }

    static Curve curve(JsonNode node, Path file, String name) throws IllegalArgumentException {
        if (!node.path("sizes").isArray() || !node.path("ms").isArray()) {
            throw new IllegalArgumentException(file + ": " + name + " needs \"sizes\" and \"ms\" arrays");
        }
        List<Integer> sizes = new ArrayList<>();
        List<Double> ms = new ArrayList<>();
        node.path("sizes").forEach(n -> sizes.add(n.asInt()));
        node.path("ms").forEach(n -> ms.add(n.asDouble()));
        return new Curve(sizes, ms);
    }

    /** Writes this profile as JSON. */
    public void write(Path file) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        root.put("device", device);
        root.put("measured", measured);
        root.put("source", source);
        root.set("text_encoder", node(textEncoder));
        root.set("unet", node(unet));
        root.set("vae_decoder", node(vaeDecoder));
        ObjectNode j = root.putObject("judges");
        judges.forEach((role, c) -> j.set(role, node(c)));
        ObjectNode h = root.putObject("host");
        h.put("step_ms", host.stepMs());
        h.put("row_ms", host.rowMs());
        h.put("job_ms", host.jobMs());
        root.put("per_row_timesteps", perRowTimesteps);
        if (overlap != null) {
            ObjectNode o = root.putObject("overlap");
            o.put("loop_slowdown", Math.round(overlap.loopSlowdown() * 1000) / 1000.0);
            o.put("finishing_slowdown", Math.round(overlap.finishingSlowdown() * 1000) / 1000.0);
        }
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        JSON.writeValue(file.toFile(), root);
    }

    private static ObjectNode node(Curve c) {
        ObjectNode n = JSON.createObjectNode();
        ArrayNode sizes = n.putArray("sizes");
        c.sizes().forEach(sizes::add);
        ArrayNode ms = n.putArray("ms");
        c.ms().forEach(v -> ms.add(Math.round(v * 1000) / 1000.0));
        return n;
    }
}
