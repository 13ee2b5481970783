package dev.winnow.ops;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds a command-line tool the operations tests drive (promtool, prometheus, kubectl). */
final class Executables {

    private Executables() {
    }

    /** The tool's path on PATH, or null. */
    static String find(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, name))) {
                return Path.of(dir, name).toString();
            }
        }
        return null;
    }

    /** CI installs the tool: there a missing one is a failure, elsewhere a reason to skip. */
    static void requireInCi(String name, String path) {
        if (path == null && "true".equals(System.getenv("CI"))) {
            throw new AssertionError(name + " is missing in CI: .ci/run installs Debian's prometheus package");
        }
    }
}
