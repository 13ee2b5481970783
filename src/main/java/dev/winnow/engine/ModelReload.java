package dev.winnow.engine;

import dev.winnow.modelpack.ModelVersion;
import java.util.Map;

/**
 * What a check of the model folders did (a live swap, or why not).
 *
 * @param detail  what happened, in words: what the log says and the admin port answers
 * @param serving the versions serving new jobs afterwards, by role (the pipeline first)
 */
public record ModelReload(Outcome outcome, String detail, Map<String, ModelVersion> serving) {

    public enum Outcome {
        /** Every folder still holds the version in service (or a change is still settling). */
        UNCHANGED,
        /** The new version serves every new job; jobs admitted before finish on the old one. */
        SWAPPED,
        /** The memory budget cannot hold the new version beside the versions in memory. */
        REFUSED,
        /** The new version did not load or failed its warm-up generation. */
        FAILED;

        /** The lower-case name, as metrics and JSON say it. */
        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
