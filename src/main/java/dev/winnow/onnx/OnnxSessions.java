package dev.winnow.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The process's one ONNX Runtime environment and the rule for opening sessions on the chosen
 * device. CPU sessions share the environment's global thread pools, so several models do not
 * oversubscribe the cores.
 */
public final class OnnxSessions {

    private static final Logger LOG = Logger.getLogger(OnnxSessions.class.getName());
    private static OrtEnvironment sharedEnvironment;
    /** Whether the environment has global thread pools (sessions may then drop their own). */
    private static boolean globalPools;

    /** The graph optimisation sessions are opened with (and what a cached graph was optimised at). */
    static final OrtSession.SessionOptions.OptLevel OPT_LEVEL = OrtSession.SessionOptions.OptLevel.ALL_OPT;

    private final OrtEnvironment env;
    private final boolean cuda;
    private final CudaSettings cudaSettings;
    private volatile GraphCache graphCache;
    /** Every graph opened so far, for the startup log. */
    private final java.util.Queue<Opened> opened = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** A graph opened: which file, how ("optimised", "optimised, cached", "from the graph cache") and in how long. */
    public record Opened(Path file, String origin, long millis) {
    }

    private OnnxSessions(OrtEnvironment env, boolean cuda, CudaSettings cudaSettings) {
        this.env = env;
        this.cuda = cuda;
        this.cudaSettings = cudaSettings;
    }

    /**
     * Keeps ONNX Runtime's optimised graphs in {@code folder} from now on (see {@link GraphCache}),
     * keyed by this runtime's version, the optimisation level and this device's provider settings.
     */
    public OnnxSessions withGraphCache(Path folder) {
        graphCache = new GraphCache(folder, "onnxruntime " + env.getVersion() + "|" + OPT_LEVEL + "|" + provider()
                + (cuda ? "|" + cudaSettings : ""));
        return this;
    }

    /** The graphs opened so far, in the order they finished opening. */
    public java.util.List<Opened> opened() {
        return java.util.List.copyOf(opened);
    }

    /**
     * Loads ONNX Runtime's native library (unpacked from its jar, then linked: a few hundred
     * milliseconds) without making the environment, so that it can overlap the application's
     * own start. Safe to call from any thread, any number of times; failures are left for the
     * real start to report.
     */
    public static void preloadNativeLibrary() {
        try {
            OrtEnvironment.getAvailableProviders();
        } catch (RuntimeException | LinkageError e) {
            LOG.fine("preloading ONNX Runtime failed (the engine's start will say why): " + e);
        }
    }

    /** The graph cache in use, or null. */
    public GraphCache graphCache() {
        return graphCache;
    }

    /** With default CUDA settings on device {@code cudaDeviceId}. */
    public static OnnxSessions create(DeviceChoice choice, int intraOpThreads, int cudaDeviceId) {
        CudaSettings d = CudaSettings.defaults();
        return create(choice, intraOpThreads, new CudaSettings(cudaDeviceId, d.arenaExtendStrategy(),
                d.cudnnConvAlgoSearch(), d.cudnnConvUseMaxWorkspace(), d.preferNhwc()));
    }

    /**
     * Resolves the device choice against what this runtime build offers.
     *
     * @param intraOpThreads threads of the shared CPU pool; 0 lets ONNX Runtime use every core
     * @throws DeviceUnavailableException for {@code cuda} when the CUDA provider is missing
     */
    public static OnnxSessions create(DeviceChoice choice, int intraOpThreads, CudaSettings cudaSettings) {
        OrtEnvironment env = environment(intraOpThreads);
        EnumSet<OrtProvider> providers = OrtEnvironment.getAvailableProviders();
        boolean hasCuda = providers.contains(OrtProvider.CUDA);
        boolean useCuda = switch (choice) {
            case CPU -> false;
            case CUDA -> {
                if (!hasCuda) {
                    throw new DeviceUnavailableException("winnow.device=cuda, but this ONNX Runtime build has no CUDA "
                            + "execution provider (available: " + providers + "). Build with the 'cuda' Maven profile "
                            + "(onnxruntime_gpu) and run on a node with an NVIDIA driver, CUDA 12 and cuDNN 9; "
                            + "or set winnow.device=auto to fall back to CPU.");
                }
                String unusable = cudaUnusable(env, cudaSettings.deviceId());
                if (unusable != null) {
                    throw new DeviceUnavailableException("winnow.device=cuda, but the CUDA execution provider cannot run "
                            + "on this node: " + unusable + ". It needs an NVIDIA GPU, its driver, CUDA 12 and cuDNN 9 "
                            + "on the library path (docs/GPU.md); or set winnow.device=auto to fall back to CPU.");
                }
                yield true;
            }
            case AUTO -> {
                if (!hasCuda) {
                    LOG.warning("winnow.device=auto: no CUDA execution provider in this ONNX Runtime build; running on CPU");
                    yield false;
                }
                String unusable = cudaUnusable(env, cudaSettings.deviceId());
                if (unusable != null) {
                    LOG.warning("winnow.device=auto: this build has the CUDA execution provider, but it cannot run on "
                            + "this node (" + unusable + "); running on CPU (docs/GPU.md says what a GPU node needs)");
                    yield false;
                }
                yield true;
            }
        };
        return new OnnxSessions(env, useCuda, cudaSettings);
    }

    /**
     * Why the CUDA provider cannot run here, or null when it can: a one-node graph (Identity,
     * cuda-probe.onnx) is opened with the CUDA provider and run once. A GPU build on a node
     * without a GPU or without CUDA's libraries fails here, at startup, with ONNX Runtime's own
     * reason (a missing libcublasLt.so.12, "no CUDA-capable device"), instead of at the first
     * real model.
     */
    static String cudaUnusable(OrtEnvironment env, int deviceId) {
        byte[] graph;
        try (var in = OnnxSessions.class.getResourceAsStream("cuda-probe.onnx")) {
            graph = in.readAllBytes();
        } catch (IOException | NullPointerException e) {
            return "the CUDA probe graph is missing from the build (" + e + ")";
        }
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
             OrtCUDAProviderOptions cudaOptions = new OrtCUDAProviderOptions(deviceId)) {
            options.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
            options.addCUDA(cudaOptions);
            try (OrtSession session = env.createSession(graph, options);
                 ai.onnxruntime.OnnxTensor x = ai.onnxruntime.OnnxTensor.createTensor(env, new float[] {1f});
                 OrtSession.Result ignored = session.run(java.util.Map.of("x", x))) {
                return null;
            }
        } catch (OrtException | RuntimeException | LinkageError e) {
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            return message.strip().replaceAll("\\s+", " ");
        }
    }

    private static synchronized OrtEnvironment environment(int intraOpThreads) {
        if (sharedEnvironment == null) {
            try (OrtEnvironment.ThreadingOptions threads = new OrtEnvironment.ThreadingOptions()) {
                threads.setGlobalIntraOpNumThreads(Math.max(0, intraOpThreads));
                threads.setGlobalInterOpNumThreads(1);
                threads.setGlobalSpinControl(false); // idle workers sleep instead of burning the cores
                sharedEnvironment = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, "winnow", threads);
                globalPools = true;
            } catch (OrtException | IllegalStateException e) {
                // Another component created the environment first: use it with its own pools.
                LOG.fine("using the existing ONNX Runtime environment: " + e.getMessage());
                sharedEnvironment = OrtEnvironment.getEnvironment();
            }
        }
        return sharedEnvironment;
    }

    private static synchronized boolean usesGlobalPools() {
        return globalPools;
    }

    public OrtEnvironment environment() {
        return env;
    }

    /** {@code cuda} or {@code cpu}. */
    public String device() {
        return cuda ? "cuda" : "cpu";
    }

    /** The execution provider sessions are given first. */
    public String provider() {
        return cuda ? "CUDAExecutionProvider" : "CPUExecutionProvider";
    }

    /**
     * Opens one model file. The caller owns the returned session (and its options, closed with it).
     * With a graph cache, a graph optimised by an earlier start is loaded as it is (no
     * optimisation), and a graph optimised now is kept for the next start.
     *
     * @throws ModelLoadException naming the file when it is missing or not a loadable ONNX model
     */
    public ModelSession open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(file + ": model file not found");
        }
        long t0 = System.nanoTime();
        GraphCache cache = graphCache;
        if (cache != null && cache.enabled() && GraphCache.cacheable(file)) {
            String key;
            try {
                key = cache.key(file);
            } catch (IOException e) {
                throw new ModelLoadException(file + ": cannot read it: " + e.getMessage(), e);
            }
            Optional<Path> cached = cache.lookup(file, key);
            if (cached.isPresent()) {
                try {
                    return create(file, cached.get(), OrtSession.SessionOptions.OptLevel.NO_OPT, null,
                            "from the graph cache", t0);
                } catch (OrtException e) {
                    LOG.warning("the cached optimised graph of " + file + " (" + cached.get() + ") does not load ("
                            + e.getMessage() + "); optimising the model again");
                    cache.discard(cached.get());
                }
            }
            Optional<Path> writing = cache.reserve();
            if (writing.isPresent()) {
                try {
                    ModelSession s = create(file, file, OPT_LEVEL, writing.get(), "optimised, cached", t0);
                    cache.commit(file, key, writing.get());
                    return s;
                } catch (OrtException e) {
                    cache.discard(writing.get());
                    LOG.log(Level.FINE, file + ": opening it while writing its optimised graph failed; opening it plainly", e);
                }
            }
        }
        try {
            return create(file, file, OPT_LEVEL, null, "optimised", t0);
        } catch (OrtException e) {
            throw new ModelLoadException(file + ": ONNX Runtime cannot load it: " + e.getMessage(), e);
        }
    }

    /**
     * A session on {@code graph} (the model file or its cached optimised graph), named after
     * {@code file} in messages; {@code optimizedOut} receives the optimised graph when not null.
     */
    private ModelSession create(Path file, Path graph, OrtSession.SessionOptions.OptLevel level, Path optimizedOut,
                                String origin, long t0) throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            options.setOptimizationLevel(level);
            options.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
            if (optimizedOut != null) {
                options.setOptimizedModelFilePath(optimizedOut.toString());
            }
            if (cuda) {
                try (OrtCUDAProviderOptions cudaOptions = new OrtCUDAProviderOptions(cudaSettings.deviceId())) {
                    cudaOptions.add("arena_extend_strategy", cudaSettings.arenaExtendStrategy());
                    cudaOptions.add("cudnn_conv_algo_search", cudaSettings.cudnnConvAlgoSearch());
                    cudaOptions.add("cudnn_conv_use_max_workspace", cudaSettings.cudnnConvUseMaxWorkspace() ? "1" : "0");
                    if (cudaSettings.preferNhwc()) {
                        cudaOptions.add("prefer_nhwc", "1");
                    }
                    options.addCUDA(cudaOptions);
                }
            }
            if (usesGlobalPools()) {
                // CPU work (and operators CUDA lacks) runs on the shared pool, not on a pool per session.
                options.disablePerSessionThreads();
            }
            OrtSession session = env.createSession(graph.toString(), options);
            ModelSession m = new ModelSession(env, file, session, options, origin, System.nanoTime() - t0);
            opened.add(new Opened(file, origin, m.openMillis()));
            return m;
        } catch (OrtException | RuntimeException e) {
            options.close();
            throw e;
        }
    }
}
