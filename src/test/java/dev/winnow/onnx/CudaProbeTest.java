package dev.winnow.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The startup probe behind winnow.device=auto's fallback: a one-node graph opened with the CUDA
 * provider. The GPU build on a node without a GPU (what .ci/container-check runs) falls back on
 * its answer; here, with the CPU build, it must answer with a reason, not throw.
 */
class CudaProbeTest {

    @Test
    void theProbeGraphIsARealGraphThatRunsAsAnIdentity() throws Exception {
        OrtEnvironment env = OnnxSessions.create(DeviceChoice.CPU, 1, 0).environment();
        byte[] graph;
        try (InputStream in = OnnxSessions.class.getResourceAsStream("cuda-probe.onnx")) {
            assertNotNull(in, "cuda-probe.onnx is on the class path beside OnnxSessions");
            graph = in.readAllBytes();
        }
        try (OrtSession session = env.createSession(graph, new OrtSession.SessionOptions());
             OnnxTensor x = OnnxTensor.createTensor(env, new float[] {3f});
             OrtSession.Result y = session.run(Map.of("x", x))) {
            assertArrayEquals(new float[] {3f}, (float[]) y.get(0).getValue());
        }
    }

    @Test
    void whereCudaCannotRunTheProbeSaysWhyInsteadOfThrowing() {
        org.junit.jupiter.api.Assumptions.assumeFalse(
                OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA), "this runtime has CUDA");
        String reason = OnnxSessions.cudaUnusable(OnnxSessions.create(DeviceChoice.CPU, 1, 0).environment(), 0);
        assertNotNull(reason, "the CPU build cannot run CUDA");
        assertTrue(!reason.isBlank() && !reason.contains("\n"), reason);
    }
}
