package dev.winnow.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
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

    private final OrtEnvironment env;
    private final boolean cuda;
    private final CudaSettings cudaSettings;

    private OnnxSessions(OrtEnvironment env, boolean cuda, CudaSettings cudaSettings) {
        this.env = env;
        this.cuda = cuda;
        this.cudaSettings = cudaSettings;
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
                yield true;
            }
            case AUTO -> {
                if (!hasCuda) {
                    LOG.warning("winnow.device=auto: no CUDA execution provider in this ONNX Runtime build; running on CPU");
                }
                yield hasCuda;
            }
        };
        return new OnnxSessions(env, useCuda, cudaSettings);
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
     *
     * @throws ModelLoadException naming the file when it is missing or not a loadable ONNX model
     */
    public ModelSession open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(file + ": model file not found");
        }
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
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
            return new ModelSession(env, file, env.createSession(file.toString(), options), options);
        } catch (OrtException e) {
            options.close();
            throw new ModelLoadException(file + ": ONNX Runtime cannot load it: " + e.getMessage(), e);
        }
    }
}
