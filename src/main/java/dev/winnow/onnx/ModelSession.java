package dev.winnow.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * One loaded ONNX graph: its session, its options, and the file it came from (for error
 * messages). Closes both the session and its options. Safe to run from several threads, but
 * closing it while a run is in progress crashes the process: the owner closes it only after
 * every thread that runs it has stopped.
 */
public final class ModelSession implements AutoCloseable {

    /** Wall time spent inside {@code OrtSession.run} by every session of the process (benchmarks read it). */
    private static final LongAdder RUN_NANOS = new LongAdder();

    private final OrtEnvironment env;
    private final Path file;
    private final OrtSession session;
    private final OrtSession.SessionOptions options;

    ModelSession(OrtEnvironment env, Path file, OrtSession session, OrtSession.SessionOptions options) {
        this.env = env;
        this.file = file;
        this.session = session;
        this.options = options;
    }

    public Path file() {
        return file;
    }

    /** The environment that tensors for this session are created in. */
    public OrtEnvironment environment() {
        return env;
    }

    public OrtSession session() {
        return session;
    }

    /** The declared tensor input {@code name}; a {@link ModelLoadException} naming file and input if absent. */
    public TensorInfo input(String name) {
        return tensorInfo(inputs(), name, "input");
    }

    public TensorInfo output(String name) {
        return tensorInfo(outputs(), name, "output");
    }

    public boolean hasInput(String name) {
        return inputs().containsKey(name);
    }

    public Map<String, NodeInfo> inputs() {
        try {
            return session.getInputInfo();
        } catch (OrtException e) {
            throw new ModelLoadException(file + ": cannot read inputs: " + e.getMessage(), e);
        }
    }

    public Map<String, NodeInfo> outputs() {
        try {
            return session.getOutputInfo();
        } catch (OrtException e) {
            throw new ModelLoadException(file + ": cannot read outputs: " + e.getMessage(), e);
        }
    }

    private TensorInfo tensorInfo(Map<String, NodeInfo> nodes, String name, String kind) {
        NodeInfo node = nodes.get(name);
        if (node == null) {
            throw new ModelLoadException(file + ": expected an " + kind + " named '" + name + "', found " + nodes.keySet());
        }
        if (!(node.getInfo() instanceof TensorInfo info)) {
            throw new ModelLoadException(file + ": " + kind + " '" + name + "' should be a tensor, is " + node.getInfo());
        }
        return info;
    }

    /**
     * Runs the graph; the caller closes the result. On a thread with an open {@link RunBudget}
     * the run is terminated when the budget's deadline passes or the budget is stopped.
     *
     * @throws RunTerminatedException when the budget ended the run
     */
    public OrtSession.Result run(Map<String, OnnxTensor> inputs) throws OrtException {
        long t = System.nanoTime();
        try {
            RunBudget budget = RunBudget.current();
            return budget == null ? session.run(inputs) : budget.run(session, inputs, file);
        } finally {
            RUN_NANOS.add(System.nanoTime() - t);
        }
    }

    /** Total nanoseconds spent in model runs so far, across all sessions and threads. */
    public static long totalRunNanos() {
        return RUN_NANOS.sum();
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(file + ": closing the session failed", e);
        } finally {
            options.close();
        }
    }
}
