package dev.winnow.engine;

import java.util.List;

/** Every candidate was unsafe or could not be judged: nothing may be returned. */
public class NoSafeCandidateException extends RuntimeException {

    private final transient List<CandidateResult> candidates;

    public NoSafeCandidateException(List<CandidateResult> candidates) {
        super("none of the " + candidates.size() + " candidates was judged safe");
        this.candidates = List.copyOf(candidates);
    }

    public List<CandidateResult> candidates() {
        return candidates;
    }
}
