package dev.winnow.engine;

import io.quarkus.runtime.configuration.MemorySize;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.Optional;

/**
 * Every {@code winnow.*} setting, declared once (each is also an environment variable:
 * {@code winnow.engine.max-batch-rows} ↔ {@code WINNOW_ENGINE_MAX_BATCH_ROWS}). Relative paths
 * resolve against the working directory (the repository root when started as documented).
 */
@ConfigMapping(prefix = "winnow")
public interface WinnowConfig {

    Pipeline pipeline();

    Judges judges();

    /** {@code auto}, {@code cpu} or {@code cuda}. */
    @WithDefault("auto")
    String device();

    Engine engine();

    Cuda cuda();

    Limits limits();

    Defaults defaults();

    Pruning prune();

    Feedback feedback();

    Traffic traffic();

    Models models();

    Policy policy();

    OpenAi openai();

    Http http();

    /** The HTTP edge. */
    interface Http {
        /**
         * How long a request's body may take to arrive once its headers have: past it the request
         * gets 408 and its connection is closed, so a body that is cut short or trickles in holds
         * nothing for longer than this.
         */
        @WithDefault("10s")
        Duration bodyTimeout();
    }

    /** The prompt policy: rules of words a prompt may not contain, checked before any model runs. */
    interface Policy {
        /** The policy file (YAML); the repository's is an example to replace. */
        @WithDefault("config/policy.yaml")
        String path();

        /** How often the file is checked for changes. */
        @WithDefault("2s")
        Duration reloadInterval();

        /** Log a refused prompt's text (otherwise only the rule id and a hash of the prompt). */
        @WithDefault("false")
        boolean logPrompts();
    }

    /** The OpenAI-compatible route. */
    interface OpenAi {
        /** Log the {@code user} field of each request (it is never a metric label). */
        @WithDefault("false")
        boolean logUser();
    }

    /** A person's picks among a generation's candidates (POST /feedback), recorded as preference data. */
    interface Feedback {
        /**
         * Where picks are written (an imagefolder dataset per process under {@code parts/}) and
         * generations wait for them; every replica may share it (README, "Feedback on many
         * replicas"); absent: feedback capture is off.
         */
        Optional<String> dir();

        /**
         * Signs generation ids (HMAC-SHA256); the same on every replica. Absent: a random key per
         * process (a startup warning), so ids verify on no other replica and do not outlive a restart.
         */
        Optional<String> secret();

        /** How long a generation waits for its pick. */
        @WithDefault("30m")
        Duration retention();

        /** Most generations this process holds for a pick at once (their safe candidates' PNGs, in the feedback folder). */
        @WithDefault("256")
        int capacity();

        /**
         * Most bytes of PNGs this process holds in the feedback folder for picks at once, its oldest
         * generations let go first; absent: 1 GiB. A generation with more on its own is not held.
         */
        Optional<MemorySize> maxHeldBytes();
    }

    /** New model versions taken live (README, "Updating models without a restart"). */
    interface Models {
        /** How often the configured model folders are checked for a new version; absent: only when asked on the admin port. */
        Optional<Duration> pollInterval();

        /** Most bytes of model files in memory at once, old and new versions together during a swap; absent: twice what startup loaded. */
        Optional<io.quarkus.runtime.configuration.MemorySize> memoryBudget();

        /** The admin listener's interface: loopback by default, so only the pod itself (kubectl exec/port-forward) reaches it. */
        @WithDefault("127.0.0.1")
        String adminHost();

        /** The admin listener's port (GET /models, POST /models/reload); -1 turns it off, 0 picks a free one. */
        @WithDefault("9400")
        int adminPort();
    }

    /** The judges' rankings of served traffic, kept as preference data (docs/LOOP.md). */
    interface Traffic {
        /** Where rankings and final latents are written; absent: nothing is kept. */
        Optional<String> dir();

        /** Rankings waiting for the writer; past this, new ones are dropped (and counted), never a request slowed. */
        @WithDefault("1024")
        int queueCapacity();
    }

    interface Pipeline {
        /** The pipeline pack folder (Optimum/diffusers ONNX layout). */
        @WithDefault("models/shapes-scenes")
        String path();
    }

    interface Judges {
        Safety safety();

        Scorer aesthetic();

        Scorer faithfulness();

        interface Safety {
            @WithDefault("models/judges/nsfw-mobilenet-v2")
            String path();

            /** Overrides the judge's own threshold on the summed unsafe probability. */
            Optional<Double> threshold();
        }

        interface Scorer {
            /** The scorer's folder; set {@code enabled=false} to run without it. */
            Optional<String> path();

            @WithDefault("true")
            boolean enabled();

            /** Its weight in the combined score (requests may override with {@code ranking_weights}). */
            @WithDefault("1.0")
            double weight();
        }
    }

    interface Engine {
        /** Jobs admitted at once (running or waiting); one more gets 429. */
        @WithDefault("16")
        int queueCapacity();

        /** Most UNet rows in one call (a candidate with guidance takes two). */
        @WithDefault("16")
        int maxBatchRows();

        /**
         * The longest a job may take; requests may ask for less with {@code deadline_ms}. At the
         * deadline the job gets 504 wherever it is, and a model call running for it is stopped.
         * Keep {@code quarkus.shutdown.timeout} at least this long, so a drain lets every admitted
         * job end by itself.
         */
        @WithDefault("120s")
        Duration defaultDeadline();

        /**
         * Liveness goes DOWN when the engine loop (or the finisher) has been inside one piece of
         * work for longer than this: model calls end at their job's deadline, so only a wedged
         * call stays that long. Must be longer than {@code default-deadline}.
         */
        @WithDefault("150s")
        Duration livenessTimeout();

        /** Threads of the shared ONNX Runtime CPU pool; 0 = all cores. */
        @WithDefault("0")
        int intraOpThreads();

        /** CUDA device ordinal when {@code winnow.device} is cuda or auto. */
        @WithDefault("0")
        int cudaDeviceId();

        /** Batch UNet rows across jobs at each step (true), or only a job's own candidates (false). */
        @WithDefault("true")
        boolean stepLevelBatching();

        /** Run one small generation before readiness reports UP. */
        @WithDefault("true")
        boolean warmUp();

        /** Most images per VAE decoder call (candidates of jobs that finish together share calls). */
        @WithDefault("8")
        int decodeBatchImages();

        /**
         * Most candidates one finishing thread decodes and judges at once: jobs that finish
         * together share the safety judge's and each scorer's calls up to this many images (a job
         * with more candidates is finished alone).
         */
        @WithDefault("16")
        int judgeBatchImages();

        /** Threads that decode, judge and rank denoised jobs while the engine loop keeps denoising. */
        @WithDefault("2")
        int finishingThreads();

        /**
         * Where ONNX Runtime's optimised graphs are kept between starts (keyed by each model's
         * bytes, the runtime's version, the optimisation level and the device; stale or damaged
         * entries are never used); {@code off} turns the cache off. A folder that cannot be written
         * turns it off with a warning.
         */
        @WithDefault("${java.io.tmpdir}/winnow-graph-cache")
        String graphCacheDir();
    }

    /** ONNX Runtime CUDA provider options (used when the device is CUDA). */
    interface Cuda {
        @WithDefault("kSameAsRequested")
        String arenaExtendStrategy();

        @WithDefault("HEURISTIC")
        String cudnnConvAlgoSearch();

        @WithDefault("true")
        boolean cudnnConvUseMaxWorkspace();

        @WithDefault("false")
        boolean preferNhwc();
    }

    interface Limits {
        /** Most candidates a request may ask for. */
        @WithDefault("16")
        int maxN();

        @WithDefault("100")
        int maxSteps();

        /** Largest image side in pixels for packs that accept any size. */
        @WithDefault("1024")
        int maxSide();

        /** Smallest image side in pixels for packs that accept any size. */
        @WithDefault("256")
        int minSide();
    }

    /**
     * Speculative best-of-N (request field {@code prune}): keep the best {@code keep} of a job's
     * candidates after a fraction {@code at} of its steps, judged on x̂₀ previews. Off unless a
     * request asks; these are the values a request leaves out.
     */
    interface Pruning {
        /** Whether requests may ask for pruning; when false, a request with {@code prune} gets 400. */
        @WithDefault("true")
        boolean enabled();

        /**
         * The judge folder that scores x̂₀ previews (a score judge, prompt-aware or not); empty:
         * the faithfulness scorer judges previews as it judges images.
         */
        Optional<String> judgePath();

        /** The fraction of the steps after which previews are judged, when a request names only {@code keep}. */
        @WithDefault("0.2")
        double at();

        /** The share of the candidates kept, when a request names only {@code at}: ceil(n × keep-fraction). */
        @WithDefault("0.25")
        double keepFraction();

        /**
         * For {@code "prune": {}} (the server's strategy): also keep every candidate whose preview
         * score is within this of the best, in [0, 1]; 0 keeps exactly the kept share.
         */
        @WithDefault("0.05")
        double margin();

        /**
         * For {@code "prune": {}}: a second decision among the kept candidates after this fraction
         * of the steps (later than {@code at}); 0: one decision.
         */
        @WithDefault("0.4")
        double thenAt();

        /** For {@code "prune": {}} with {@code then-at}: the share the second decision keeps, ceil(n × it). */
        @WithDefault("0.25")
        double thenKeepFraction();

        /**
         * Decode pruning's x̂₀ previews with the pack's preview decoder ({@code preview_decoder/},
         * a tiny stand-in for the VAE decoder) when it has one; false: with its VAE decoder.
         */
        @WithDefault("true")
        boolean previewDecoder();

        /** These settings as the engine's {@link Prune.Defaults}. */
        default Prune.Defaults strategy() {
            return new Prune.Defaults(at(), keepFraction(), margin(), thenAt() == 0 ? Double.NaN : thenAt(),
                    thenKeepFraction());
        }
    }

    interface Defaults {
        @WithDefault("4")
        int n();

        @WithDefault("20")
        int steps();

        @WithDefault("5.0")
        double guidanceScale();

        @WithDefault("ddim")
        String scheduler();
    }
}
