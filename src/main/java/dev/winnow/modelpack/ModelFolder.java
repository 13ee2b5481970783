package dev.winnow.modelpack;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A configured model path as it stands now: the folder it leads to, what identifies that folder's
 * content, and its size. A live swap compares identities to see that a new version arrived.
 *
 * <p>A configured path leads to a folder in one of two layouts, both of which Kubernetes volumes
 * make easy to change atomically:
 * <ul>
 *   <li><b>a folder, or a symbolic link to one</b> ({@code models/current -> v2}): the link is
 *       followed, so flipping it ({@code ln -sfn v3 current.tmp && mv -T current.tmp current},
 *       or a ConfigMap/projected volume's own {@code ..data} link) is a new version;</li>
 *   <li><b>numbered version folders</b>, as Triton's model repository keeps them
 *       ({@code repo/shapes-scenes/1/}, {@code /2/}): the highest number that holds the marker
 *       file ({@code model_index.json}, {@code judge.json}) is served, so a new version is a new
 *       folder, copied first and then given its number.</li>
 * </ul>
 *
 * <p>The identity is the real folder and a hash of its files' relative paths, sizes and
 * modification times (no content is read): a flipped link, a new numbered folder, or an edit in
 * place all change it. Markdown and hidden files are left out, as {@link PackVersion} leaves them.
 *
 * @param configured the path as configured
 * @param folder     the real folder it leads to now
 * @param identity   changes whenever the files the service would read change
 * @param bytes      the files' total size (what loading it costs, roughly, in memory)
 */
public record ModelFolder(Path configured, Path folder, String identity, long bytes) {

    /**
     * Where {@code configured} leads now.
     *
     * @param marker the file that makes a folder a pack ({@code model_index.json}) or a judge ({@code judge.json})
     * @throws PackException when it leads to no folder holding {@code marker}
     */
    public static ModelFolder resolve(Path configured, String marker) {
        try {
            Path folder = concrete(configured, marker).toRealPath();
            List<Path> files = files(folder);
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            long bytes = 0;
            for (Path f : files) {
                long size = Files.size(f);
                bytes += size;
                sha.update((folder.relativize(f) + "\0" + size + "\0" + Files.getLastModifiedTime(f).toMillis() + "\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            return new ModelFolder(configured, folder, folder + "#" + HexFormat.of().formatHex(sha.digest(), 0, 8), bytes);
        } catch (IOException e) {
            throw new PackException(configured + ": cannot be read as a model folder: " + e, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The folder itself when it holds the marker, else its highest numbered subfolder that does. */
    private static Path concrete(Path configured, String marker) throws IOException {
        if (Files.isRegularFile(configured.resolve(marker))) {
            return configured;
        }
        Optional<Path> newest = Optional.empty();
        if (Files.isDirectory(configured)) {
            try (Stream<Path> children = Files.list(configured)) {
                newest = children.filter(p -> p.getFileName().toString().matches("\\d{1,9}"))
                        .filter(p -> Files.isRegularFile(p.resolve(marker)))
                        .max(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString())));
            }
        }
        return newest.orElseThrow(() -> new PackException(configured + ": no " + marker + " there, nor in a numbered "
                + "version folder under it (" + configured.resolve("1").resolve(marker) + ", ...)"));
    }

    private static List<Path> files(Path folder) {
        try (Stream<Path> walk = Files.walk(folder)) {
            return walk.filter(Files::isRegularFile).filter(p -> !PackVersion.isLeftOut(folder.relativize(p))).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
