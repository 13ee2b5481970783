package dev.winnow.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.logging.Logger;
import java.util.zip.Adler32;
import java.util.zip.CRC32C;

/**
 * ONNX Runtime's optimised graphs kept on disk, so that a restart opens a model without
 * optimising it again ({@code SessionOptions.setOptimizedModelFilePath} writes one; a later
 * start loads it with graph optimisation off).
 *
 * <p>An entry is keyed by a 64-bit checksum of the source model's bytes (CRC-32C and Adler-32,
 * both computed by the CPU's own instructions, a few milliseconds for the embedded pack where
 * SHA-256 took a tenth of a second of every start) and their length, together with everything
 * that shapes the optimised graph: the ONNX Runtime version, the optimisation level, the
 * execution provider and its settings, and the CPU (ONNX Runtime's highest level writes
 * kernels for the instruction set it found, NCHWc blocks among them). Each entry is written to
 * a temporary file and moved into place atomically, with a CRC-32C of its own bytes beside it
 * (a check against damage, cheap enough to run at every start); an entry is used only when
 * those bytes still match, so a stale entry is never found (a
 * changed model has another key) and a corrupt or half-written one is deleted and the model
 * optimised afresh. Older entries of the same model file are removed when a new one is
 * written. A folder that cannot be made or written turns the cache off with one warning: a
 * read-only root filesystem costs start time, never a start.
 *
 * <p>Models that keep their weights in external data files (the exports of multi-gigabyte
 * UNets) are not cached: an optimised copy would have to write them all again.
 */
public final class GraphCache {

    private static final Logger LOG = Logger.getLogger(GraphCache.class.getName());
    /** Files beside model.onnx that mean its weights live outside it (Optimum writes model.onnx_data). */
    private static final String[] EXTERNAL_DATA = {"model.onnx_data", "model.onnx.data", "weights.pb"};
    static final String ENTRY = ".onnx";
    static final String DIGEST = ".crc32c";

    private final Path dir;
    private final String environment;
    private volatile boolean disabled;

    /**
     * @param dir         the cache folder (made when missing)
     * @param environment what shapes an optimised graph besides the model: runtime version,
     *                    optimisation level, provider and its settings
     */
    public GraphCache(Path dir, String environment) {
        this.dir = dir;
        this.environment = environment + "|" + cpuFingerprint();
    }

    public Path folder() {
        return dir;
    }

    /** Whether the cache is in use (false once it found it cannot write its folder). */
    public boolean enabled() {
        return !disabled;
    }

    /** Whether this model can be cached at all (its weights are inside the file). */
    public static boolean cacheable(Path model) {
        Path folder = model.toAbsolutePath().getParent();
        for (String name : EXTERNAL_DATA) {
            if (folder != null && Files.exists(folder.resolve(name))) {
                return false;
            }
        }
        return true;
    }

    /** The key of a model's entry: its bytes' checksum and length with the environment's hash. */
    public String key(Path model) throws IOException {
        MessageDigest sha = sha256();
        sha.update(environment.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(contentChecksum(model).getBytes(StandardCharsets.US_ASCII));
        return HexFormat.of().formatHex(sha.digest()).substring(0, 32);
    }

    /** CRC-32C and Adler-32 of a file's bytes, and its length: what changes whenever its content does. */
    static String contentChecksum(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        Adler32 adler = new Adler32();
        long length = 0;
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                crc.update(buf, 0, n);
                adler.update(buf, 0, n);
                length += n;
            }
        }
        return Long.toHexString(crc.getValue()) + "-" + Long.toHexString(adler.getValue()) + "-" + length;
    }

    /**
     * The entry for {@code key}, when one is there and intact. A damaged entry (its bytes no
     * longer match the digest written beside it, or no digest) is deleted.
     */
    public Optional<Path> lookup(Path model, String key) {
        if (disabled) {
            return Optional.empty();
        }
        Path entry = entry(model, key);
        Path digest = digestOf(entry);
        if (!Files.isRegularFile(entry)) {
            return Optional.empty();
        }
        try {
            if (Files.isRegularFile(digest) && Files.readString(digest, StandardCharsets.US_ASCII).trim().equals(checksum(entry))) {
                return Optional.of(entry);
            }
            LOG.warning("graph cache entry " + entry + " is damaged (its bytes do not match their digest); "
                    + "optimising " + model + " again");
        } catch (IOException e) {
            LOG.warning("graph cache entry " + entry + " cannot be read (" + e.getMessage() + "); optimising " + model + " again");
        }
        discard(entry);
        return Optional.empty();
    }

    /**
     * A fresh temporary file in the cache folder for ONNX Runtime to write an optimised graph
     * into, or empty when the folder cannot be made or written (the cache is then off).
     */
    public Optional<Path> reserve() {
        if (disabled) {
            return Optional.empty();
        }
        try {
            Files.createDirectories(dir);
            removeAbandonedWrites();
            return Optional.of(Files.createTempFile(dir, "writing-", ENTRY));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            disable("cannot write to " + dir + " (" + e + ")");
            return Optional.empty();
        }
    }

    /** Moves a graph ONNX Runtime wrote into place as {@code model}'s entry, and removes the model's older entries. */
    public void commit(Path model, String key, Path written) {
        Path entry = entry(model, key);
        try {
            if (!Files.isRegularFile(written) || Files.size(written) == 0) {
                throw new IOException("ONNX Runtime wrote no optimised graph");
            }
            Path digestTmp = Files.createTempFile(dir, "writing-", DIGEST);
            Files.writeString(digestTmp, checksum(written), StandardCharsets.US_ASCII);
            // the digest first: an entry without one is never used, one with a stale one is found damaged
            Files.move(digestTmp, digestOf(entry), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Files.move(written, entry, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            removeOlderEntries(model, entry);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.warning("could not keep the optimised graph of " + model + " in " + dir + ": " + e.getMessage());
            discard(written);
        }
    }

    /** Deletes an entry (or a temporary file) and its digest, quietly. */
    public void discard(Path entry) {
        try {
            Files.deleteIfExists(entry);
            Files.deleteIfExists(digestOf(entry));
        } catch (IOException e) {
            LOG.fine("could not delete " + entry + ": " + e);
        }
    }

    private void disable(String why) {
        if (!disabled) {
            disabled = true;
            LOG.warning("ONNX Runtime's graph cache is off: " + why + ". Models are optimised at every start; mount a "
                    + "writable folder at winnow.engine.graph-cache-dir, or set it to 'off' to say so");
        }
    }

    /** {@code <hash of the model's path>-<key>.onnx}: one model file's entries share the prefix. */
    private Path entry(Path model, String key) {
        return dir.resolve(pathPrefix(model) + key + ENTRY);
    }

    private static String pathPrefix(Path model) {
        MessageDigest sha = sha256();
        byte[] h = sha.digest(model.toAbsolutePath().normalize().toString().getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(h).substring(0, 12) + "-";
    }

    private void removeOlderEntries(Path model, Path keep) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, pathPrefix(model) + "*" + ENTRY)) {
            for (Path e : entries) {
                if (!e.equals(keep)) {
                    discard(e);
                }
            }
        } catch (IOException e) {
            LOG.fine("could not list " + dir + ": " + e);
        }
    }

    /** Temporary files a process that died while writing left behind (an hour old at least). */
    private void removeAbandonedWrites() {
        long hourAgo = System.currentTimeMillis() - 3_600_000;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "writing-*")) {
            for (Path f : files) {
                if (Files.getLastModifiedTime(f).toMillis() < hourAgo) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            LOG.fine("could not tidy " + dir + ": " + e);
        }
    }

    static Path digestOf(Path entry) {
        return entry.resolveSibling(entry.getFileName() + DIGEST);
    }

    /** The CRC-32C of a file's bytes, in hex (the JDK computes it with the CPU's CRC instructions). */
    static String checksum(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                crc.update(buf, 0, n);
            }
        }
        return Long.toHexString(crc.getValue()) + " " + Files.size(file);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The CPU's model and instruction-set flags (Linux), else the architecture: optimised CPU graphs depend on them. */
    static String cpuFingerprint() {
        StringBuilder sb = new StringBuilder(System.getProperty("os.arch"));
        try {
            String model = null;
            String flags = null;
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (model == null && line.startsWith("model name")) {
                    model = line;
                } else if (flags == null && (line.startsWith("flags") || line.startsWith("Features"))) {
                    flags = line;
                }
            }
            sb.append('|').append(model).append('|').append(flags);
        } catch (IOException | RuntimeException e) {
            // not Linux: the architecture alone
        }
        return sb.toString();
    }
}
