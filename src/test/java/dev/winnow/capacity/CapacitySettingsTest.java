package dev.winnow.capacity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The GPU overlays set what the capacity table (docs/capacity-data, docs/CAPACITY.md) derives for
 * SD 1.5 best-of-4 at 20 steps on one H200 at p99 ≤ 10 s, from the more cautious of the two UNet
 * curves: the queue capacity, and the KEDA threshold (the mean queue depth at 80% of the rate a
 * pod holds, rounded down).
 */
class CapacitySettingsTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    static JsonNode defaultRow(String curve) throws Exception {
        for (JsonNode r : JSON.readTree(Path.of("docs/capacity-data/h200-" + curve + ".json").toFile()).path("rows")) {
            if (r.path("n").asInt() == 4 && !r.path("prune").asBoolean() && r.path("steps").asInt() == 20
                    && r.path("p99_bound_s").asDouble() == 10) {
                return r;
            }
        }
        throw new AssertionError("no best-of-4, 20 steps, p99 10 s row for the " + curve + " curve");
    }

    @Test
    void theGpuOverlaysQueueCapacityAndKedaThresholdAreTheOnesTheCapacityTableDerives() throws Exception {
        JsonNode eager = defaultRow("eager");
        JsonNode graph = defaultRow("cuda-graph");
        int capacity = Math.min(eager.path("queue_capacity").asInt(), graph.path("queue_capacity").asInt());
        int threshold = (int) Math.floor(Math.min(eager.path("winnow_mean_depth_at_80").asDouble(),
                graph.path("winnow_mean_depth_at_80").asDouble()));

        JsonNode deployment = YAML.readTree(Path.of("k8s/overlays/gpu/gpu-node.yaml").toFile());
        String queue = null;
        for (JsonNode e : deployment.at("/spec/template/spec/containers/0/env")) {
            if (e.path("name").asText().equals("WINNOW_ENGINE_QUEUE_CAPACITY")) {
                queue = e.path("value").asText();
            }
        }
        assertEquals(String.valueOf(capacity), queue, "WINNOW_ENGINE_QUEUE_CAPACITY in the gpu overlay");

        String kedaThreshold = null;
        for (JsonNode p : YAML.readTree(Path.of("k8s/overlays/gpu/kustomization.yaml").toFile()).path("patches")) {
            if (p.at("/target/kind").asText().equals("ScaledObject")) {
                for (JsonNode op : YAML.readTree(p.path("patch").asText())) {
                    if (op.path("path").asText().equals("/spec/triggers/0/metadata/threshold")) {
                        kedaThreshold = op.path("value").asText();
                    }
                }
            }
        }
        assertEquals(String.valueOf(threshold), kedaThreshold, "the KEDA threshold the gpu overlay patches in");

        String doc = Files.readString(Path.of("docs/CAPACITY.md"));
        assertTrue(doc.contains("`winnow.engine.queue-capacity` = " + capacity), "docs/CAPACITY.md quotes the capacity");
        assertTrue(doc.contains("KEDA threshold = " + threshold), "docs/CAPACITY.md quotes the threshold");
        String readme = Files.readString(Path.of("README.md"));
        assertTrue(readme.contains("`winnow.engine.queue-capacity` " + capacity) && readme.contains("KEDA threshold of " + threshold),
                "the README's sizing section quotes both");
    }
}
