/**
 * The generation engine: admission, step-level continuous batching, pruning, judging, drain.
 *
 * <h2>A request's life, one noun per stage</h2>
 * <pre>
 * api.GenerateRequest     the HTTP body as the client sent it (nullable fields, wire names)
 *   │ api.RequestValidator, against EngineCapabilities
 *   ▼
 * GenerationRequest       a validated job's settings: everything that decides its images
 *   │ EngineLoop.submit → Admission (429 / 503, deadline timer, pinned to the Served models)
 *   ▼
 * EngineJob               one admitted job: its JobState, future, events and models
 *   │ encoded once by the StepExecutor
 *   ▼
 * PreparedJob             its denoising work: N slots, pruning progress, timings
 *   │ denoised step by step, then judged by the Finisher (BestOfN ranks)
 *   ▼
 * GenerationResult        the answer: chosen image, every candidate's verdict and scores
 *   │ shaped by the api on a worker thread
 *   ▼
 * api.GenerateResponse    the JSON body (or a PNG with X-Winnow-* headers)
 * </pre>
 *
 * <h2>The parts</h2>
 * <pre>
 *  submit ──► Admission ──► mailbox ──► EngineLoop (one thread)
 *                                          │ JobViews
 *                                          ▼
 *                                     StepScheduler.plan ──► StepPlan: encode, drop, expire,
 *                                          │                   previews, finish, UNet calls
 *                                          ▼
 *                                     StepExecutor: encode prompts; UNet calls under Budgets,
 *                                          │        retried in halves when a shared call fails
 *           ┌── previews ◄─────────────────┤ denoised
 *           ▼                              ▼
 *     Finisher: preview lane ahead of the final lane (FinishingLanes); BestOfN decodes, judges
 *     (SharedJudging) and ranks ──► answer; preview scores ──► mailbox ──► prune;
 *     live previews (a watched job's x̂₀ at evenly spread steps, safety-judged) ──► its JobEvents
 * </pre>
 * <ul>
 * <li>{@link dev.winnow.engine.StepScheduler} decides, and only decides: a pure function of
 *     {@link dev.winnow.engine.JobView}s, the {@link dev.winnow.engine.StepScheduler.Capacity} and
 *     the time it is given (oldest first, row budget, one model set and shape per step, timestep
 *     groups, pruning holds, finishing order).</li>
 * <li>{@link dev.winnow.engine.StepExecutor} runs a plan's model calls and reports what failed.</li>
 * <li>{@link dev.winnow.engine.Finisher} judges on its own threads, previews first: pruning
 *     previews (scored, never shown) and live previews ({@link dev.winnow.engine.LivePreview}: every
 *     candidate's x̂₀ judged for safety, the leading safe one handed to the watcher, or none), which a
 *     job's final judging waits for, so that its watcher hears them before the answer.</li>
 * <li>{@link dev.winnow.engine.EngineLoop} ties them together and applies the outcomes to the jobs'
 *     states; {@link dev.winnow.engine.Admission} is its door, {@link dev.winnow.engine.Budgets} the
 *     run budgets and the drain's cut.</li>
 * <li>{@link dev.winnow.engine.BestOfN} is one model set and its ranking; {@link dev.winnow.engine.Served}
 *     counts the jobs and calls on it, {@link dev.winnow.engine.ModelSwaps} replaces it live.</li>
 * <li>{@link dev.winnow.engine.WinnowEngine} is the process's engine: loading, warm-up, readiness,
 *     liveness, drain, metrics, and the {@link dev.winnow.engine.EngineCapabilities} the api reads.</li>
 * </ul>
 *
 * <h2>Job states</h2>
 * <pre>
 * QUEUED ─► ENCODING ─► DENOISING ───────────────► WAITING_TO_FINISH ─► FINISHING ─► ANSWERED
 *                          ▲  │ prune point
 *                          │  ▼
 *                   WAITING_FOR_PREVIEWS
 * any state before ANSWERED ─► CANCELLED | EXPIRED | FAILED
 * </pre>
 * {@link dev.winnow.engine.JobState} holds the allowed moves; the loop moves a job up to
 * WAITING_TO_FINISH, the finisher to FINISHING, and the ends follow from how the job's future was
 * completed (by the finisher, the client, the deadline timer or the drain).
 */
package dev.winnow.engine;
