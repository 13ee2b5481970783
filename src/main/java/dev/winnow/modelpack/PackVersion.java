package dev.winnow.modelpack;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The version of a pack or judge folder: what it declares in {@code winnow_version}
 * ({@code model_index.json} for a pipeline, {@code judge.json} for a judge), or else a content
 * hash of its files, computed once when it is loaded: {@code sha256-} and the first 12 hex
 * digits of SHA-256 over every file's relative path, size and bytes, in path order. README and
 * other Markdown files and hidden files are left out, so editing the documentation of a pack
 * does not make it a new version; everything the service reads (graphs, external weights,
 * configs, tokenizer) is in. A full-size SD 1.5 export (3.4 GB of UNet weights) hashes in a few
 * seconds; declare a version to skip it.
 */
public final class PackVersion {

    private static final int HEX_DIGITS = 12;

    private PackVersion() {
    }

    /** {@code declared} when it is a non-blank string, else the folder's content hash. */
    public static String of(Path folder, String declared) {
        return declared != null && !declared.isBlank() ? declared.strip() : contentHash(folder);
    }

    /** {@code sha256-} and 12 hex digits over the folder's files (see the class comment). */
    public static String contentHash(Path folder) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (Path file : files(folder)) {
                String relative = folder.relativize(file).toString().replace('\\', '/');
                sha.update(relative.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update(Long.toString(Files.size(file)).getBytes(StandardCharsets.US_ASCII));
                sha.update((byte) 0);
                try (InputStream in = Files.newInputStream(file)) {
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        sha.update(buffer, 0, n);
                    }
                }
            }
            return "sha256-" + HexFormat.of().formatHex(sha.digest()).substring(0, HEX_DIGITS);
        } catch (IOException e) {
            throw new UncheckedIOException("hashing " + folder + " for its version failed", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<Path> files(Path folder) throws IOException {
        try (Stream<Path> walk = Files.walk(folder)) {
            return walk.filter(Files::isRegularFile)
                    .filter(p -> !isLeftOut(folder.relativize(p)))
                    .sorted()
                    .toList();
        }
    }

    /** Markdown, README, LICENSE and hidden files: documentation and editor state, not the model. */
    static boolean isLeftOut(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) {
                return true;
            }
        }
        String name = relative.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return name.endsWith(".md") || name.startsWith("readme") || name.equals("license");
    }
}
