package dev.winnow.policy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * The policy file and the policy last read from it. {@link #refresh()} reads the file again when
 * its modification time or size changed; a file that does not parse keeps the last good policy,
 * says so in the log and counts a reload failure. Thread-safe.
 */
public final class PolicyFile {

    private static final Logger LOG = Logger.getLogger(PolicyFile.class.getName());

    private final Path file;
    private volatile PromptPolicy policy;
    private volatile FileTime seenTime;
    private volatile long seenSize = -1;
    private final AtomicLong reloadFailures = new AtomicLong();
    private volatile boolean lastReadGood = true;

    /** @throws IllegalStateException when the file cannot be read at startup (a policy is never silently absent) */
    public PolicyFile(Path file) {
        this.file = file;
        try {
            this.policy = PromptPolicy.read(file);
            remember();
        } catch (Exception e) {
            throw new IllegalStateException("the prompt policy " + file.toAbsolutePath() + " cannot be used: " + e.getMessage(), e);
        }
    }

    public PromptPolicy policy() {
        return policy;
    }

    public Path file() {
        return file;
    }

    /** Reads the file again if it changed; returns whether a new policy took effect. */
    public synchronized boolean refresh() {
        try {
            if (Files.getLastModifiedTime(file).equals(seenTime) && Files.size(file) == seenSize) {
                return false;
            }
            remember();
            PromptPolicy next = PromptPolicy.read(file);
            policy = next;
            lastReadGood = true;
            LOG.info("prompt policy reloaded from " + file + ": " + next.rules().size() + " rules");
            return true;
        } catch (Exception e) {
            reloadFailures.incrementAndGet();
            lastReadGood = false;
            LOG.warning("the prompt policy " + file + " changed but cannot be used, so the last good one (" + policy.rules().size()
                    + " rules) stays in force: " + e.getMessage());
            return false;
        }
    }

    private void remember() throws java.io.IOException {
        seenTime = Files.getLastModifiedTime(file);
        seenSize = Files.size(file);
    }

    /** Changes of the file that could not be used. */
    public long reloadFailures() {
        return reloadFailures.get();
    }

    /** Whether the file as it is now is the policy in force (false after a failed reload, until a good one). */
    public boolean current() {
        return lastReadGood;
    }
}
