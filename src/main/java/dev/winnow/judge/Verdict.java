package dev.winnow.judge;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** What became of a candidate. Only {@link #SAFE} candidates may leave the service. */
public enum Verdict {
    SAFE, UNSAFE, SAFETY_ERROR, PRUNED;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
