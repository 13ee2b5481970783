package dev.winnow.feedback;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * This process's name among the writers of a shared folder: {@code <host>-<start>-<pid>}, the
 * host (a pod's name in Kubernetes), the process's start (UTC, to the second) and its pid. Every
 * file that replicas on one volume append to is one such part per process, so that no two writers
 * ever share a file: {@code rankings/part-<id>.jsonl} ({@link TrafficLog}) and
 * {@code parts/<id>/metadata.jsonl} ({@link FeedbackLedger}). A restarted container (same pod
 * name, often pid 1 again) gets a new start, so a new part.
 */
public final class ProcessPart {

    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss").withZone(ZoneOffset.UTC);
    private static final String ID = host() + "-"
            + STAMP.format(ProcessHandle.current().info().startInstant().orElseGet(Instant::now)) + "-"
            + ProcessHandle.current().pid();

    private ProcessPart() {
    }

    /** {@code <host>-<start>-<pid>}: letters, digits, {@code .}, {@code _} and {@code -} only. */
    public static String id() {
        return ID;
    }

    private static String host() {
        String h = System.getenv("HOSTNAME");
        if (h == null || h.isBlank()) {
            try {
                h = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                h = "host";
            }
        }
        return h.replaceAll("[^A-Za-z0-9._-]", "_");
    }
}
