package dev.winnow.onnx;

/**
 * ONNX Runtime CUDA execution provider options ({@code OrtCUDAProviderOptions}).
 *
 * @param deviceId                 CUDA device ordinal
 * @param arenaExtendStrategy      {@code kNextPowerOfTwo} or {@code kSameAsRequested} (less fragmentation)
 * @param cudnnConvAlgoSearch      {@code EXHAUSTIVE}, {@code HEURISTIC} or {@code DEFAULT}; HEURISTIC keeps the
 *                                 algorithm choice stable between runs (determinism) and starts fast
 * @param cudnnConvUseMaxWorkspace let cuDNN use as much workspace as it wants (faster convolutions)
 * @param preferNhwc               NHWC kernels where ONNX Runtime has them (Tensor Cores; needs a build that supports it)
 */
public record CudaSettings(int deviceId, String arenaExtendStrategy, String cudnnConvAlgoSearch,
                           boolean cudnnConvUseMaxWorkspace, boolean preferNhwc) {

    public static CudaSettings defaults() {
        return new CudaSettings(0, "kSameAsRequested", "HEURISTIC", true, false);
    }
}
