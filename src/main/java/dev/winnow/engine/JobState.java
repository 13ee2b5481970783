package dev.winnow.engine;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;

/**
 * Where an admitted job is in its life, and the only moves it may make. Drawn as a request flows:
 *
 * <pre>
 * QUEUED ─► ENCODING ─► DENOISING ─────────────────────► WAITING_TO_FINISH ─► FINISHING ─► ANSWERED
 *                          ▲  │ (prune point reached)
 *                          │  ▼
 *                   WAITING_FOR_PREVIEWS
 *
 * any state before ANSWERED ─► CANCELLED (client gone) | EXPIRED (deadline) | FAILED (error, drain cut)
 * </pre>
 *
 * The engine loop moves a job up to {@link #WAITING_TO_FINISH}, the finisher to
 * {@link #FINISHING}; the four ends follow from how the job's future was completed, by whichever
 * thread completed it ({@link #endOf}). An end is final.
 */
public enum JobState {

    /** Admitted; its prompt is not encoded yet. */
    QUEUED("waiting in the queue"),
    /** The loop is encoding its prompt and making its slots. */
    ENCODING("encoding its prompt"),
    /** Its slots take UNet steps. */
    DENOISING("denoising"),
    /** Held at its prune point while a finishing thread judges its x̂₀ previews. */
    WAITING_FOR_PREVIEWS("having its previews judged"),
    /** Denoised, in the finisher's queue. */
    WAITING_TO_FINISH("waiting to be judged"),
    /** Being decoded, judged and ranked. */
    FINISHING("being judged"),
    /** Judged: a result, or a judged refusal (no safe candidate). */
    ANSWERED("answered"),
    /** Its caller went away. */
    CANCELLED("cancelled"),
    /** Its deadline passed. */
    EXPIRED("past its deadline"),
    /** A model call failed, or the engine stopped before it finished. */
    FAILED("failed");

    private final String description;

    JobState(String description) {
        this.description = description;
    }

    /** Where the job is, in words, for an answer's message ("the deadline passed while the job was …"). */
    public String description() {
        return description;
    }

    /** An end: the job's future is complete and no stage will touch it again. */
    public boolean isTerminal() {
        return compareTo(ANSWERED) >= 0;
    }

    /** Whether a job in this state may move to {@code next}: the whole life of a job, in one place. */
    public boolean canMoveTo(JobState next) {
        if (isTerminal()) {
            return false;
        }
        if (next == CANCELLED || next == EXPIRED || next == FAILED) {
            return true; // a client, a deadline or a drain may end a job wherever it is
        }
        return switch (this) {
            case QUEUED -> next == ENCODING;
            case ENCODING -> next == DENOISING;
            case DENOISING -> next == WAITING_FOR_PREVIEWS || next == WAITING_TO_FINISH;
            case WAITING_FOR_PREVIEWS -> next == DENOISING;
            case WAITING_TO_FINISH -> next == FINISHING;
            case FINISHING -> next == ANSWERED;
            default -> false;
        };
    }

    /**
     * The end that a job's future completed with {@code failure} (null: with a result) stands for:
     * a result or a judged refusal is {@link #ANSWERED}, a cancellation {@link #CANCELLED}, a
     * passed deadline {@link #EXPIRED}, anything else {@link #FAILED}.
     */
    public static JobState endOf(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause == null || cause instanceof NoSafeCandidateException) {
            return ANSWERED;
        }
        if (cause instanceof CancellationException) {
            return CANCELLED;
        }
        if (cause instanceof DeadlineExceededException) {
            return EXPIRED;
        }
        return FAILED;
    }
}
