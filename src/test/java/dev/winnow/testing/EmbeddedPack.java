package dev.winnow.testing;

import dev.winnow.modelpack.PackFiles;
import java.nio.file.Path;

/**
 * The embedded default pack as tests expect to see it served: its version is whatever its
 * {@code model_index.json} declares, read here once, so that a new default version (issue 27's
 * v2, and the ones after it) changes no test.
 */
public final class EmbeddedPack {

    public static final Path DIR = Path.of("models/shapes-scenes");

    /** The pack's {@code winnow_version} ("" if it declares none: PackVersionTest fails then). */
    public static final String VERSION = PackFiles.json(DIR.resolve("model_index.json")).path("winnow_version").asText("");

    private EmbeddedPack() {
    }
}
