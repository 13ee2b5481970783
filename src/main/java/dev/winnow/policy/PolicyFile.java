package dev.winnow.policy;

import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * The policy file and the policy last read from it. Thread-safe.
 *
 * <p>{@link #refresh()} reads the whole file in one read and compares its <em>content</em> with the
 * policy in force, not its modification time or size: two edits within one clock tick of the
 * file system, or of the same length, are still seen. A changed content takes effect only once it
 * has been read the same at two successive refreshes, so a file that an editor or a copy is still
 * writing in place is never taken as a policy while it is a half-written prefix (which may parse,
 * with fewer rules). A replace by rename, as Kubernetes updates a ConfigMap volume, is complete at
 * once and still waits one interval. A content that does not parse keeps the last good policy,
 * says so in the log and counts one reload failure (once per distinct bad content).
 */
public final class PolicyFile {

    private static final Logger LOG = Logger.getLogger(PolicyFile.class.getName());

    private final Path file;
    private volatile PromptPolicy policy;
    /** Guarded by this: the bytes of the policy in force. */
    private byte[] inForce;
    /** Guarded by this: a changed content seen once, waiting to be seen again unchanged. */
    private byte[] settling;
    /** Guarded by this: the last content that could not be used, so it is counted once. */
    private byte[] rejected;
    /** Guarded by this: the last read failed (counted once until the file can be read again). */
    private boolean unreadable;
    private final AtomicLong reloadFailures = new AtomicLong();
    private volatile boolean lastReadGood = true;

    /** @throws IllegalStateException when the file cannot be read at startup (a policy is never silently absent) */
    public PolicyFile(Path file) {
        this.file = file;
        try {
            byte[] bytes = Files.readAllBytes(file);
            this.policy = PromptPolicy.parse(text(bytes), file.toString());
            this.inForce = bytes;
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

    /** Reads the file again; returns whether a new policy took effect. */
    public synchronized boolean refresh() {
        byte[] now;
        try {
            now = Files.readAllBytes(file);
        } catch (Exception e) {
            if (unreadable) {
                return false;
            }
            unreadable = true;
            return refuse(null, "cannot be read: " + e);
        }
        unreadable = false;
        if (Arrays.equals(now, inForce)) {
            settling = null;
            lastReadGood = true;
            return false;
        }
        if (!Arrays.equals(now, settling)) {
            settling = now; // changed since the last look: wait until the writer is done with it
            return false;
        }
        settling = null;
        if (Arrays.equals(now, rejected)) {
            return false;
        }
        try {
            PromptPolicy next = PromptPolicy.parse(text(now), file.toString());
            policy = next;
            inForce = now;
            rejected = null;
            lastReadGood = true;
            LOG.info("prompt policy reloaded from " + file + ": " + next.rules().size() + " rules");
            return true;
        } catch (Exception e) {
            return refuse(now, e.getMessage());
        }
    }

    private boolean refuse(byte[] content, String why) {
        if (content != null) {
            rejected = content;
        }
        reloadFailures.incrementAndGet();
        lastReadGood = false;
        LOG.warning("the prompt policy " + file + " changed but cannot be used, so the last good one (" + policy.rules().size()
                + " rules) stays in force: " + why);
        return false;
    }

    /** The file's text; bytes that are not UTF-8 make it unusable rather than silently replaced. */
    private static String text(byte[] bytes) throws CharacterCodingException {
        return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
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
