package dev.winnow.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs a Node.js script of {@code src/test/node} (its packages installed by {@code npm ci}) and
 * asserts it exits 0, printing its output. Without Node or the packages a test is skipped,
 * unless {@code WINNOW_REQUIRE_NODE=1} (CI), where it fails instead.
 */
public final class NodeScripts {

    public static final Path DIR = Path.of("src/test/node");

    private NodeScripts() {
    }

    /**
     * @param needs what else must be present (a package folder under node_modules, a browser), checked first
     */
    public static void run(String script, List<Path> needs, String... args) throws Exception {
        List<Path> missing = new ArrayList<>();
        for (Path p : needs) {
            if (!Files.exists(p)) {
                missing.add(p);
            }
        }
        if (!missing.isEmpty() || !nodeRuns()) {
            String why = "Node.js and (cd src/test/node && npm ci) are needed" + (missing.isEmpty() ? "" : "; missing " + missing);
            if ("1".equals(System.getenv("WINNOW_REQUIRE_NODE"))) {
                fail(why);
            }
            Assumptions.abort(why);
        }
        List<String> command = new ArrayList<>(List.of("node", script));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(DIR.toFile()).redirectErrorStream(true).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(script + " did not finish in 300 s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.println(out);
        assertEquals(0, p.exitValue(), out);
    }

    private static boolean nodeRuns() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }
}
