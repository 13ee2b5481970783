package dev.winnow.ops;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every metric name that the autoscalers, alerts and dashboard in k8s/ query is served by
 * the running application's /q/metrics, so none of them can drift from what the service
 * exports.
 */
@QuarkusTest
class MonitoringConsistencyTest {

    static final Pattern METRIC = Pattern.compile("\\b((?:winnow|jvm|http_server|process|system)_[a-z0-9_]+)");
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** The PromQL expressions in k8s/: alerts, KEDA and HPA triggers, dashboard panels. */
    public static List<String> queries() throws IOException {
        List<String> q = new ArrayList<>();
        JsonNode rules = YAML.readTree(Path.of("k8s/base/prometheusrule.yaml").toFile());
        rules.at("/spec/groups").forEach(g -> g.get("rules").forEach(r -> q.add(r.get("expr").asText())));
        q.add(YAML.readTree(Path.of("k8s/base/scaledobject.yaml").toFile()).at("/spec/triggers/0/metadata/query").asText());
        q.add(YAML.readTree(Path.of("k8s/base/hpa-prometheus-adapter.yaml").toFile())
                .at("/spec/metrics/0/pods/metric/name").asText());
        JsonNode dash = new ObjectMapper().readTree(Files.readString(Path.of("k8s/base/grafana-dashboard.json")));
        dash.get("panels").forEach(p -> p.get("targets").forEach(t -> q.add(t.get("expr").asText())));
        return q;
    }

    static Set<String> metricNames() throws IOException {
        Set<String> names = new TreeSet<>();
        for (String q : queries()) {
            Matcher m = METRIC.matcher(q);
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    @Test
    void everyMetricTheManifestsQueryIsServed() throws IOException {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle on a white background\", \"n\": 2, \"seed\": 7}")
                .post("/generate");
        String served = given().get("/q/metrics").asString();
        Set<String> names = metricNames();
        assertTrue(names.size() >= 10, "found the queries' metric names: " + names);
        List<String> missing = new ArrayList<>();
        for (String name : names) {
            if (!Pattern.compile("(?m)^" + name + "[{ ]").matcher(served).find()) {
                missing.add(name);
            }
        }
        assertTrue(missing.isEmpty(), "queried in k8s/ but not served on /q/metrics: " + missing);
    }

    @Test
    void theLabelValuesTheAlertsSelectExist() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle on a white background\", \"n\": 1, \"seed\": 7}")
                .post("/generate");
        String served = given().get("/q/metrics").asString();
        for (String series : new String[] {"winnow_requests_seconds_bucket{outcome=\"ok\"", "winnow_rejected_total{reason=\"queue_full\"",
            "winnow_model_info{", "winnow_engine_ready "}) {
            assertTrue(served.contains(series), series + " not served");
        }
    }
}
