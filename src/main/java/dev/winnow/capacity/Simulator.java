package dev.winnow.capacity;

import dev.winnow.engine.FinishingLanes;
import dev.winnow.engine.JobState;
import dev.winnow.engine.JobView;
import dev.winnow.engine.Prune;
import dev.winnow.engine.StepPlan;
import dev.winnow.engine.StepScheduler;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * A discrete-event simulation of one engine on one device, in virtual time (nothing sleeps): the
 * engine's own {@link StepScheduler} plans every step and the engine's own {@link FinishingLanes}
 * decide what a free finishing thread takes, while a simulated executor gives each model call the
 * {@link DeviceProfile}'s time. What is simulated rather than run is the glue between them, which
 * follows {@code EngineLoop} and {@code Finisher} step for step:
 * <ul>
 * <li><b>Admission.</b> A request is admitted while fewer than {@code queueCapacity} jobs are
 *     unanswered, else refused (429); its deadline then holds wherever it is (504).</li>
 * <li><b>The loop</b> (one thread): reads its mailbox (admitted jobs, judged previews), plans,
 *     encodes the queued jobs' prompts (a text-encoder call each) and plans again, applies the
 *     plan (drop, expire, previews and denoised jobs to the finisher), then makes the plan's UNet
 *     calls in order, each after the host's cost per row, every step after the host's cost per
 *     step. When a plan makes no call it waits for a message (or 100 ms).</li>
 * <li><b>The finisher</b> ({@code finishingThreads} threads): previews are decoded by the VAE in
 *     calls of up to {@code decodeBatchImages} and scored by the preview judge, and the scores go
 *     back to the loop, which keeps the first {@code keep} candidates (the cost does not depend
 *     on which); jobs judged together are decoded the same way, judged by the safety judge in
 *     one call and by each scorer in one call, and answered; the answer reaches its client after
 *     the host's per-job cost.</li>
 * <li><b>The device</b> ({@link SimDevice}) runs one call at a time, first issued first served:
 *     the loop's calls and the finishing threads' calls queue for it, as kernels from several
 *     threads share one GPU; or, when the profile measured an {@link DeviceProfile.Overlap} (a
 *     CPU), a loop call and a finishing call at once, each slowed by its measured factor. Its busy
 *     time never exceeds the run's span.</li>
 * </ul>
 * The two baselines ({@link Policy}) are other servers on the same device and the same
 * admission: their workers are written here, since they are not Winnow's scheduling.
 */
public final class Simulator {

    /** How long the loop waits for a message when a plan made no call (EngineLoop polls its mailbox for this long). */
    static final long LOOP_POLL_NANOS = 100_000_000L;

    /** Whose scheduling serves the requests. */
    public enum Policy {
        /** Winnow: the engine's scheduler, step-level batching across jobs, a finishing pool beside the loop. */
        WINNOW,
        /**
         * One request at a time with its N candidates as one batch (diffusers'
         * {@code num_images_per_prompt}): encode, denoise, (prune,) decode, judge, answer, next.
         */
        ONE_REQUEST_AT_A_TIME,
        /**
         * Request-level dynamic batching, as a generic model server does: whole queued requests up
         * to {@code maxBatchRows} rows run together from first step to answer; a request that
         * arrives meanwhile waits for the next batch (no joining at step boundaries).
         */
        REQUEST_BATCHING
    }

    /**
     * The engine's settings that the simulation uses.
     *
     * @param queueCapacity     {@code winnow.engine.queue-capacity}: unanswered jobs at once
     * @param maxBatchRows      {@code winnow.engine.max-batch-rows}
     * @param finishingThreads  {@code winnow.engine.finishing-threads}
     * @param judgeBatchImages  {@code winnow.engine.judge-batch-images}
     * @param decodeBatchImages {@code winnow.engine.decode-batch-images}
     */
    public record Settings(Policy policy, int queueCapacity, int maxBatchRows, int finishingThreads, int judgeBatchImages,
                           int decodeBatchImages) {
        public Settings {
            if (queueCapacity < 1 || maxBatchRows < 1 || finishingThreads < 1 || judgeBatchImages < 1 || decodeBatchImages < 1) {
                throw new IllegalArgumentException("every setting must be at least 1");
            }
        }

        /** The service's defaults (queue 16, 16 rows, 2 finishing threads, 16 images judged, 8 decoded at once). */
        public static Settings defaults(Policy policy) {
            return new Settings(policy, 16, 16, 2, 16, 8);
        }

        public Settings withQueueCapacity(int c) {
            return new Settings(policy, c, maxBatchRows, finishingThreads, judgeBatchImages, decodeBatchImages);
        }

        public Settings withMaxBatchRows(int rows) {
            return new Settings(policy, queueCapacity, rows, finishingThreads, judgeBatchImages, decodeBatchImages);
        }

        public Settings withPolicy(Policy p) {
            return new Settings(p, queueCapacity, maxBatchRows, finishingThreads, judgeBatchImages, decodeBatchImages);
        }
    }

    private Simulator() {
    }

    /** Runs the arrivals to the end (every request answered) and reports. */
    public static SimReport run(DeviceProfile profile, Settings settings, List<Arrival> arrivals) {
        return new Run(profile, settings).go(arrivals);
    }

    /** A scheduled piece of work, at a virtual time; ties in the order they were scheduled. */
    private record Event(long at, long seq, Runnable action) {
    }

    /** One admitted job as the simulation holds it. */
    private static final class Job {
        final long id;
        final SimRequest req;
        final long arrived;
        final long deadline;
        JobState state = JobState.QUEUED;
        int[] step;
        boolean[] pruned;
        /** The pending pruning decision (PreparedJob.pending); null when none is left. */
        Prune pending;
        int holdAt = Integer.MAX_VALUE;

        Job(long id, SimRequest req, long arrived) {
            this.id = id;
            this.req = req;
            this.arrived = arrived;
            this.deadline = arrived + req.deadlineMillis() * 1_000_000L;
        }

        boolean answered() {
            return state.isTerminal();
        }

        boolean moveTo(JobState next) {
            if (state.isTerminal()) {
                return false;
            }
            if (!state.canMoveTo(next)) {
                throw new IllegalStateException("a job cannot go from " + state + " to " + next);
            }
            state = next;
            return true;
        }

        /** Its slots, once its prompt is encoded (PreparedJob.encode). */
        void prepare() {
            step = new int[req.n()];
            pruned = new boolean[req.n()];
            pending = req.prune();
            holdAt = pending == null ? Integer.MAX_VALUE : pending.afterStep(req.steps());
        }

        boolean done(int i) {
            return pruned[i] || step[i] >= req.steps();
        }

        boolean denoised() {
            for (int i = 0; i < req.n(); i++) {
                if (!done(i)) {
                    return false;
                }
            }
            return true;
        }

        int live() {
            int n = 0;
            for (boolean p : pruned) {
                n += p ? 0 : 1;
            }
            return n;
        }

        /**
         * PreparedJob.prune, with scores that rank the live candidates in index order and no two
         * within a margin: the first {@code keep} live ones go on (a margin's extra candidates
         * depend on the judge's scores, which a simulation does not have), then the next decision.
         */
        void prune() {
            int kept = 0;
            for (int i = 0; i < req.n(); i++) {
                if (!pruned[i] && kept++ >= pending.keep()) {
                    pruned[i] = true;
                }
            }
            pending = pending.next(req.steps());
            holdAt = pending == null ? Integer.MAX_VALUE : pending.afterStep(req.steps());
        }

        /** Whether every live candidate reached the pending prune point (JobView.atPrunePoint). */
        boolean atPrunePoint() {
            if (holdAt == Integer.MAX_VALUE || step == null) {
                return false;
            }
            for (int i = 0; i < req.n(); i++) {
                if (!pruned[i] && step[i] < holdAt) {
                    return false;
                }
            }
            return live() > 0;
        }

        /** What the scheduler sees (EngineJob.view). */
        JobView view(boolean perRowTimesteps) {
            List<JobView.Slot> slots = new ArrayList<>(step == null ? 0 : step.length);
            if (step != null) {
                for (int i = 0; i < step.length; i++) {
                    boolean done = done(i);
                    slots.add(new JobView.Slot(i, req.shape(), req.rowsPerCandidate(), step[i], req.steps(),
                            done ? Double.NaN : timestep(step[i], req.steps()), done, pruned[i]));
                }
            }
            return new JobView(id, state, "models", perRowTimesteps, deadline, step == null ? Integer.MAX_VALUE : holdAt, slots);
        }
    }

    /** The timestep of step {@code k} of {@code steps} on a 1000-step schedule, evenly spaced (DDIM's "leading" spacing). */
    static double timestep(int k, int steps) {
        return (double) (steps - 1 - k) * (1000 / steps);
    }

    private static final class Run {
        final DeviceProfile profile;
        final Settings s;
        final StepScheduler.Capacity capacity;
        final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at)
                : Long.compare(a.seq, b.seq));
        long now;
        long seq;
        long nextId;
        final SimDevice device;
        long unetCalls;
        long unetRows;
        // admission
        int admitted;
        final List<SimReport.Answer> answers = new ArrayList<>();
        final List<SimReport.DepthPoint> depth = new ArrayList<>(List.of(new SimReport.DepthPoint(0, 0)));
        // Winnow's loop and finisher
        final Map<Long, Job> jobs = new LinkedHashMap<>();
        final ArrayDeque<Runnable> mailbox = new ArrayDeque<>();
        boolean nothingStepped = true;
        boolean loopWaiting = true;
        long waitToken;
        final FinishingLanes<Job, Job> lanes;
        int freeFinishers;
        int pendingWakes;
        // the baselines' worker
        final ArrayDeque<Job> queue = new ArrayDeque<>();
        boolean workerBusy;

        Run(DeviceProfile profile, Settings s) {
            this.profile = profile;
            this.s = s;
            this.capacity = new StepScheduler.Capacity(s.maxBatchRows(), true);
            this.lanes = new FinishingLanes<>(s.judgeBatchImages());
            this.freeFinishers = s.finishingThreads();
            this.device = new SimDevice(new SimDevice.Clock() {
                @Override
                public long now() {
                    return now;
                }

                @Override
                public void at(long nanos, Runnable action) {
                    Run.this.at(nanos, action);
                }
            }, profile.overlap());
        }

        SimReport go(List<Arrival> arrivals) {
            for (Arrival a : arrivals) {
                at(a.atNanos(), () -> arrive(a.request()));
            }
            long last = 0;
            while (!events.isEmpty()) {
                Event e = events.poll();
                now = e.at;
                e.action.run();
            }
            for (SimReport.Answer a : answers) {
                last = Math.max(last, Math.max(a.answeredNanos(), a.arrivedNanos()));
            }
            last = Math.max(last, device.lastEndNanos()); // a call still running for a job answered meanwhile (expired)
            return new SimReport(answers, depth, last, device.busyNanos(), unetCalls, unetRows);
        }

        void at(long t, Runnable r) {
            events.add(new Event(t, seq++, r));
        }

        void after(long nanos, Runnable r) {
            at(now + nanos, r);
        }

        /** A text-encoder or UNet call, issued by the loop (or a baseline's worker). */
        void loopCall(long nanos, Runnable then) {
            device.call(SimDevice.Lane.LOOP, nanos, then);
        }

        /** A VAE or judge call, issued by a finishing thread (or a baseline's worker: it has nothing beside it). */
        void finishingCall(long nanos, Runnable then) {
            device.call(SimDevice.Lane.FINISHING, nanos, then);
        }

        static long ms(double millis) {
            return Math.round(millis * 1e6);
        }

        // ---- admission

        void arrive(SimRequest r) {
            long id = ++nextId;
            if (admitted >= s.queueCapacity()) {
                answers.add(new SimReport.Answer(id, now, now, SimReport.Outcome.REJECTED));
                return;
            }
            admitted++;
            depth.add(new SimReport.DepthPoint(now, admitted));
            Job j = new Job(id, r, now);
            at(j.deadline, () -> answer(j, JobState.EXPIRED));
            if (s.policy() == Policy.WINNOW) {
                post(() -> jobs.put(j.id, j));
            } else {
                queue.add(j);
                if (!workerBusy) {
                    workerNext();
                }
            }
        }

        /** Completes a job's future: the first end wins, and its place is freed at once. */
        void answer(Job j, JobState end) {
            if (j.answered()) {
                return;
            }
            j.state = end;
            admitted--;
            depth.add(new SimReport.DepthPoint(now, admitted));
            boolean ok = end == JobState.ANSWERED;
            answers.add(new SimReport.Answer(j.id, j.arrived, ok ? now + ms(profile.host().jobMs()) : now,
                    ok ? SimReport.Outcome.ANSWERED : SimReport.Outcome.EXPIRED));
        }

        // ---- Winnow: the loop (EngineLoop.iterate)

        void post(Runnable message) {
            mailbox.add(message);
            if (loopWaiting) {
                loopWaiting = false;
                waitToken++;
                at(now, this::loopBody);
            }
        }

        void loopTurn() {
            if (nothingStepped && mailbox.isEmpty()) {
                loopWaiting = true;
                long token = ++waitToken;
                if (!jobs.isEmpty()) {
                    after(LOOP_POLL_NANOS, () -> {
                        if (loopWaiting && waitToken == token) {
                            loopWaiting = false;
                            loopBody();
                        }
                    });
                }
                return;
            }
            loopBody();
        }

        void loopBody() {
            while (!mailbox.isEmpty()) {
                mailbox.poll().run();
            }
            StepPlan plan = plan();
            if (plan.encode().isEmpty()) {
                applyAndStep(plan);
            } else {
                encode(plan.encode(), 0);
            }
        }

        StepPlan plan() {
            List<JobView> views = new ArrayList<>(jobs.size());
            for (Job j : jobs.values()) {
                views.add(j.view(profile.perRowTimesteps()));
            }
            return StepScheduler.plan(views, capacity, now);
        }

        /** Encodes the queued jobs one by one, then plans again: the new jobs join this step. */
        void encode(List<Long> ids, int i) {
            if (i == ids.size()) {
                applyAndStep(plan());
                return;
            }
            Job j = jobs.get(ids.get(i));
            if (j == null || !j.moveTo(JobState.ENCODING)) {
                encode(ids, i + 1);
                return;
            }
            loopCall(profile.textEncoder().nanos(j.req.prompts()), () -> {
                j.prepare();
                j.moveTo(JobState.DENOISING);
                encode(ids, i + 1);
            });
        }

        void applyAndStep(StepPlan plan) {
            plan.drop().forEach(jobs::remove);
            for (StepPlan.Expiry e : plan.expire()) {
                answer(jobs.remove(e.job()), JobState.EXPIRED);
            }
            for (long id : plan.previews()) {
                Job j = jobs.get(id);
                if (j.moveTo(JobState.WAITING_FOR_PREVIEWS)) {
                    lanes.addPreview(j);
                    wakeFinisher();
                }
            }
            for (long id : plan.finish()) {
                Job j = jobs.remove(id);
                if (j.moveTo(JobState.WAITING_TO_FINISH)) {
                    lanes.addFinal(j, j.live());
                    wakeFinisher();
                }
            }
            nothingStepped = plan.stepsNothing();
            if (nothingStepped) {
                at(now, this::loopTurn);
                return;
            }
            after(ms(profile.host().stepMs()), () -> call(plan.calls(), 0));
        }

        /** The step's UNet calls in order, each for the parts whose jobs are still unanswered (StepExecutor). */
        void call(List<StepPlan.Call> calls, int i) {
            if (i == calls.size()) {
                at(now, this::loopTurn);
                return;
            }
            List<StepPlan.Part> live = new ArrayList<>();
            int rows = 0;
            for (StepPlan.Part p : calls.get(i).parts()) {
                Job j = jobs.get(p.job());
                if (j != null && !j.answered()) {
                    live.add(p);
                    rows += p.rows();
                }
            }
            if (live.isEmpty()) {
                call(calls, i + 1);
                return;
            }
            int r = rows;
            after(ms(profile.host().rowMs() * rows), () -> loopCall(profile.unet().nanos(r), () -> {
                unetCalls++;
                unetRows += r;
                for (StepPlan.Part p : live) {
                    Job j = jobs.get(p.job());
                    if (j != null) {
                        p.slots().forEach(k -> j.step[k]++);
                    }
                }
                call(calls, i + 1);
            }));
        }

        /** On the loop: a job's previews were judged (EngineLoop.prune). */
        void judged(Job j) {
            if (!jobs.containsKey(j.id) || !j.moveTo(JobState.DENOISING)) {
                return;
            }
            j.prune();
        }

        // ---- Winnow: the finisher (Finisher.takeNext)

        void wakeFinisher() {
            pendingWakes++;
            startFinishers();
        }

        void startFinishers() {
            while (freeFinishers > 0 && pendingWakes > 0) {
                freeFinishers--;
                pendingWakes--;
                takeNext();
            }
        }

        void finisherFree() {
            freeFinishers++;
            startFinishers();
        }

        void takeNext() {
            FinishingLanes.Taken<Job, Job> taken = lanes.next(j -> !j.answered());
            if (taken.preview() != null) {
                Job j = taken.preview();
                if (j.answered()) {
                    post(() -> judged(j));
                    finisherFree();
                    return;
                }
                int images = j.live();
                decode(images, () -> finishingCall(profile.previewJudge().nanos(images), () -> {
                    post(() -> judged(j));
                    finisherFree();
                }));
                return;
            }
            List<Job> batch = new ArrayList<>();
            for (Job j : taken.finals()) {
                if (j.moveTo(JobState.FINISHING)) {
                    batch.add(j);
                }
            }
            if (batch.isEmpty()) {
                finisherFree();
                return;
            }
            judge(batch, () -> {
                batch.forEach(j -> answer(j, JobState.ANSWERED));
                finisherFree();
            });
        }

        /**
         * Decode and safety for the jobs' live candidates together, then each scorer job by job
         * (SharedJudging: a scorer's rows depend on their batch, so it is called per job).
         */
        void judge(List<Job> batch, Runnable then) {
            int[] perJob = batch.stream().mapToInt(Job::live).toArray();
            int images = Arrays.stream(perJob).sum();
            decode(images, () -> finishingCall(profile.judges().get("safety").nanos(images), () -> score(perJob, 0, 0, then)));
        }

        /** Scorer {@code k} on job {@code j}'s images, then the next scorer, then the next job. */
        void score(int[] perJob, int j, int k, Runnable then) {
            List<Curve> scorers = profile.scorers();
            if (j == perJob.length) {
                then.run();
            } else if (k == scorers.size() || perJob[j] <= 0) {
                score(perJob, j + 1, 0, then);
            } else {
                finishingCall(scorers.get(k).nanos(perJob[j]), () -> score(perJob, j, k + 1, then));
            }
        }

        /** VAE calls of up to decodeBatchImages images each. */
        void decode(int images, Runnable then) {
            if (images <= 0) {
                then.run();
                return;
            }
            int chunk = Math.min(images, s.decodeBatchImages());
            finishingCall(profile.vaeDecoder().nanos(chunk), () -> decode(images - chunk, then));
        }

        // ---- the baselines' worker

        /** Takes the next batch of whole requests (one, or as many as fit in the row budget) and runs it to its answers. */
        void workerNext() {
            List<Job> batch = new ArrayList<>();
            int rows = 0;
            for (Iterator<Job> it = queue.iterator(); it.hasNext(); ) {
                Job j = it.next();
                if (j.answered()) {
                    it.remove();
                    continue;
                }
                int r = j.req.n() * j.req.rowsPerCandidate();
                if (!batch.isEmpty() && (s.policy() == Policy.ONE_REQUEST_AT_A_TIME || rows + r > s.maxBatchRows()
                        || !j.req.shape().equals(batch.get(0).req.shape()))) {
                    break;
                }
                it.remove();
                batch.add(j);
                rows += r;
            }
            workerBusy = !batch.isEmpty();
            if (batch.isEmpty()) {
                return;
            }
            int prompts = 0;
            for (Job j : batch) {
                j.moveTo(JobState.ENCODING);
                prompts += j.req.prompts();
            }
            loopCall(profile.textEncoder().nanos(prompts), () -> {
                for (Job j : batch) {
                    j.prepare();
                    j.moveTo(JobState.DENOISING);
                }
                baselineStep(batch);
            });
        }

        void baselineStep(List<Job> batch) {
            List<Job> live = batch.stream().filter(j -> !j.answered() && !j.denoised()).toList();
            if (live.isEmpty()) {
                List<Job> left = batch.stream().filter(j -> !j.answered()).toList();
                if (left.isEmpty()) {
                    workerNext();
                    return;
                }
                left.forEach(j -> {
                    j.moveTo(JobState.WAITING_TO_FINISH);
                    j.moveTo(JobState.FINISHING);
                });
                judge(left, () -> {
                    left.forEach(j -> answer(j, JobState.ANSWERED));
                    workerNext();
                });
                return;
            }
            List<Job> atPrunePoint = live.stream().filter(Job::atPrunePoint).toList();
            if (!atPrunePoint.isEmpty()) {
                int images = atPrunePoint.stream().mapToInt(Job::live).sum();
                decode(images, () -> finishingCall(profile.previewJudge().nanos(images), () -> {
                    atPrunePoint.forEach(Job::prune);
                    baselineStep(batch);
                }));
                return;
            }
            int rows = 0;
            for (Job j : live) {
                for (int i = 0; i < j.req.n(); i++) {
                    rows += j.done(i) ? 0 : j.req.rowsPerCandidate();
                }
            }
            int r = rows;
            after(ms(profile.host().stepMs() + profile.host().rowMs() * rows), () -> loopCall(profile.unet().nanos(r), () -> {
                unetCalls++;
                unetRows += r;
                for (Job j : live) {
                    for (int i = 0; i < j.req.n(); i++) {
                        if (!j.done(i)) {
                            j.step[i]++;
                        }
                    }
                }
                baselineStep(batch);
            }));
        }
    }
}
