package dev.winnow.capacity;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A {@link DeviceProfile} for SD 1.5 at 512² from the shared H200 curves
 * ({@code ../shared/gpu-profiles/h200-sd.json}, read where it lies, never copied: its README says
 * how they were taken). What the file has not, and what stands in for it, named in the profile's
 * {@code source}:
 * <ul>
 * <li>the text encoder (CLIP ViT-L/14's text tower, 123 M parameters): the image tower's curve,
 *     which at one or two inputs is launch-bound (≈ 10 ms), so an upper bound;</li>
 * <li>the judges: CLIP ViT-L/14's image tower for each (the backbone of the CompVis safety
 *     checker, the LAION aesthetic predictor and CLIP-score faithfulness), one call per judge;</li>
 * <li>the host: {@link #HOST}, the engine's own cost per step and row measured on the SD-1.5-shaped
 *     fixture (docs/PERFORMANCE.md, section 5a), and a PNG of 512² per answer.</li>
 * </ul>
 */
public final class H200Profiles {

    /** Where the lead's checkout keeps the shared curves, from the repository root. */
    public static final Path DEFAULT = Path.of("../shared/gpu-profiles/h200-sd.json");

    /**
     * Host costs for a GPU node: 0.05 ms a step, 0.021 ms a UNet row (the engine's measured cost on
     * the SD-1.5-shaped fixture), 20 ms a job for the PNG of a 512² image and its base64 JSON (an
     * estimate, off the device).
     */
    public static final DeviceProfile.Host HOST = new DeviceProfile.Host(0.05, 0.021, 20.0);

    /** Which of the UNet's curves: eager PyTorch (launch-bound at small batches) or CUDA-graph replay. */
    public enum UnetCurve {
        EAGER("eager_ms"), CUDA_GRAPH("cuda_graph_ms");

        final String field;

        UnetCurve(String field) {
            this.field = field;
        }

        public static UnetCurve parse(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT).replace('-', '_'));
        }
    }

    private H200Profiles() {
    }

    /** SD 1.5 at 512² on one H200, from the shared file, with the UNet's {@code curve}. */
    public static DeviceProfile sd15(Path file, UnetCurve curve) throws IOException {
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        Curve unet = curve(root, "unet_sd15_512", "rows", curve.field, file);
        Curve vae = curve(root, "vae_decode_sd_512", "images", "eager_ms", file);
        Curve clip = curve(root, "clip_vit_l14_224", "images", "eager_ms", file);
        Map<String, Curve> judges = new LinkedHashMap<>();
        judges.put("safety", clip);
        judges.put("aesthetic", clip);
        judges.put("faithfulness", clip);
        judges.put("preview", clip);
        String source = file + " (" + root.path("framework").asText("") + "); UNet " + curve.field
                + "; text encoder: CLIP ViT-L/14 image tower's curve as a stand-in (not in the file); judges: CLIP "
                + "ViT-L/14 image tower each; host: engine's measured cost per step and row, 20 ms a job for the PNG (estimate)";
        return new DeviceProfile(root.path("device").asText("NVIDIA H200"), root.path("measured").asText(""), source, clip,
                unet, vae, judges, HOST, true);
    }

    private static Curve curve(JsonNode root, String part, String sizesField, String msField, Path file) throws IOException {
        JsonNode p = root.path(part);
        if (!p.path(sizesField).isArray() || !p.path(msField).isArray()) {
            throw new IOException(file + ": " + part + " has no " + sizesField + " and " + msField);
        }
        List<Integer> sizes = new ArrayList<>();
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < p.path(sizesField).size(); i++) {
            JsonNode v = p.path(msField).path(i);
            if (v.isNumber()) { // a size not measured (null) is left out
                sizes.add(p.path(sizesField).get(i).asInt());
                ms.add(v.asDouble());
            }
        }
        return new Curve(sizes, ms);
    }
}
