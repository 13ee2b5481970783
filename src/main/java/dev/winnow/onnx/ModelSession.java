package dev.winnow.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/**
 * One loaded ONNX graph: its session, its options, and the file it came from (for error
 * messages). Closes both the session and its options. Safe to run from several threads, but
 * closing it while a run is in progress crashes the process: the owner closes it only after
 * every thread that runs it has stopped.
 *
 * <p>The graph's inputs and outputs are read once, when it is opened: a model call never asks
 * ONNX Runtime for metadata.
 */
public final class ModelSession implements AutoCloseable {

    /** Wall time spent inside {@code OrtSession.run} by every session of the process (benchmarks read it). */
    private static final LongAdder RUN_NANOS = new LongAdder();

    private final OrtEnvironment env;
    private final Path file;
    private final OrtSession session;
    private final OrtSession.SessionOptions options;
    private final Map<String, NodeInfo> inputs;
    private final Map<String, NodeInfo> outputs;
    private final Set<String> outputNames;
    private final String origin;
    private final long openNanos;

    ModelSession(OrtEnvironment env, Path file, OrtSession session, OrtSession.SessionOptions options) {
        this(env, file, session, options, "optimised", 0);
    }

    /**
     * @param origin    how the graph was opened, for the startup log ("optimised", "from the graph cache", ...)
     * @param openNanos how long opening it took
     */
    ModelSession(OrtEnvironment env, Path file, OrtSession session, OrtSession.SessionOptions options, String origin,
                 long openNanos) {
        this.env = env;
        this.file = file;
        this.session = session;
        this.options = options;
        this.origin = origin;
        this.openNanos = openNanos;
        try {
            this.inputs = Collections.unmodifiableMap(new LinkedHashMap<>(session.getInputInfo()));
            this.outputs = Collections.unmodifiableMap(new LinkedHashMap<>(session.getOutputInfo()));
        } catch (OrtException e) {
            throw new ModelLoadException(file + ": cannot read its inputs and outputs: " + e.getMessage(), e);
        }
        this.outputNames = Collections.unmodifiableSet(outputs.keySet());
    }

    public Path file() {
        return file;
    }

    /** How the graph was opened: "optimised", "optimised, cached", "from the graph cache". */
    public String origin() {
        return origin;
    }

    /** How long opening it took, in milliseconds. */
    public long openMillis() {
        return openNanos / 1_000_000;
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

    /** The graph's declared inputs, in its order (read when it was opened). */
    public Map<String, NodeInfo> inputs() {
        return inputs;
    }

    /** The graph's declared outputs, in its order (read when it was opened). */
    public Map<String, NodeInfo> outputs() {
        return outputs;
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
    public OrtSession.Result run(Map<String, ? extends OnnxTensorLike> inputs) throws OrtException {
        return run(inputs, Map.of());
    }

    /**
     * Runs the graph writing the outputs named in {@code pinnedOutputs} into those caller-owned
     * tensors (no copy out of ONNX Runtime's memory); the result holds them without owning them,
     * and any other output is not computed. The caller closes the result.
     *
     * @throws RunTerminatedException when the budget ended the run
     */
    public OrtSession.Result run(Map<String, ? extends OnnxTensorLike> inputs,
                                 Map<String, ? extends OnnxValue> pinnedOutputs) throws OrtException {
        RunBudget budget = RunBudget.current();
        return budget == null ? runTimed(inputs, pinnedOutputs, null) : budget.run(this, inputs, pinnedOutputs);
    }

    /** The native call itself, timed for {@link #totalRunNanos()}. */
    OrtSession.Result runTimed(Map<String, ? extends OnnxTensorLike> inputs, Map<String, ? extends OnnxValue> pinnedOutputs,
                               OrtSession.RunOptions runOptions) throws OrtException {
        Set<String> requested = pinnedOutputs.isEmpty() ? outputNames : Set.of();
        long t = System.nanoTime();
        try {
            return session.run(inputs, requested, pinnedOutputs, runOptions);
        } finally {
            RUN_NANOS.add(System.nanoTime() - t);
        }
    }

    /**
     * Total nanoseconds spent inside {@code OrtSession.run} so far, across all sessions and
     * threads: the native call alone, so that wall time less this is the host's own work.
     */
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
