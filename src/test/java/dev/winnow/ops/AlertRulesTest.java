package dev.winnow.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The alerts, checked and unit-tested with Prometheus' own tool: the rules are taken out of
 * k8s/base/prometheusrule.yaml, {@code promtool check rules} validates them, and
 * {@code promtool test rules} runs k8s/tests/winnow-alerts.test.yaml (a firing and a quiet
 * case per alert). CI installs promtool (Debian's prometheus package); elsewhere these
 * tests skip when it is absent.
 */
class AlertRulesTest {

    static final Path RULES = Path.of("target", "prometheus", "winnow-rules.yaml");
    static String promtool;

    @BeforeAll
    static void writeRules() throws Exception {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        JsonNode rule = yaml.readTree(Path.of("k8s/base/prometheusrule.yaml").toFile());
        Files.createDirectories(RULES.getParent());
        yaml.writeValue(RULES.toFile(), rule.get("spec"));
        promtool = Executables.find("promtool");
        Executables.requireInCi("promtool", promtool);
    }

    @Test
    void theRulesPassPromtoolCheck() throws Exception {
        assumeTrue(promtool != null, "promtool not installed (apt-get install prometheus)");
        run(List.of(promtool, "check", "rules", RULES.toString()));
    }

    @Test
    void everyAlertFiresAndStaysQuietAsItsUnitTestsSay() throws Exception {
        assumeTrue(promtool != null, "promtool not installed (apt-get install prometheus)");
        run(List.of(promtool, "test", "rules", "k8s/tests/winnow-alerts.test.yaml"));
    }

    static void run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), String.join(" ", command) + "\n" + out);
    }
}
