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

    private final OrtEnvironment env;
    private final boolean cuda;
    private final int cudaDeviceId;

    private OnnxSessions(OrtEnvironment env, boolean cuda, int cudaDeviceId) {
        this.env = env;
        this.cuda = cuda;
        this.cudaDeviceId = cudaDeviceId;
    }

    /**
     * Resolves the device choice against what this runtime build offers.
     *
     * @param intraOpThreads threads of the shared CPU pool; 0 lets ONNX Runtime use every core
     * @throws DeviceUnavailableException for {@code cuda} when the CUDA provider is missing
     */
    public static OnnxSessions create(DeviceChoice choice, int intraOpThreads, int cudaDeviceId) {
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
        return new OnnxSessions(env, useCuda, cudaDeviceId);
    }

    private static synchronized OrtEnvironment environment(int intraOpThreads) {
        if (sharedEnvironment == null) {
            try (OrtEnvironment.ThreadingOptions threads = new OrtEnvironment.ThreadingOptions()) {
                threads.setGlobalIntraOpNumThreads(Math.max(0, intraOpThreads));
                threads.setGlobalInterOpNumThreads(1);
                threads.setGlobalSpinControl(false); // idle workers sleep instead of burning the cores
                sharedEnvironment = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, "winnow", threads);
            } catch (OrtException | IllegalStateException e) {
                // Another component created the environment first: use it with its own pools.
                LOG.fine("using the existing ONNX Runtime environment: " + e.getMessage());
                sharedEnvironment = OrtEnvironment.getEnvironment();
            }
        }
        return sharedEnvironment;
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
                try (OrtCUDAProviderOptions cudaOptions = new OrtCUDAProviderOptions(cudaDeviceId)) {
                    cudaOptions.add("arena_extend_strategy", "kSameAsRequested");
                    cudaOptions.add("cudnn_conv_algo_search", "HEURISTIC");
                    cudaOptions.add("cudnn_conv_use_max_workspace", "1");
                    options.addCUDA(cudaOptions);
                }
            } else {
                options.disablePerSessionThreads();
            }
            return new ModelSession(env, file, env.createSession(file.toString(), options), options);
        } catch (OrtException e) {
            options.close();
            throw new ModelLoadException(file + ": ONNX Runtime cannot load it: " + e.getMessage(), e);
        }
    }
}
