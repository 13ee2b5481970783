package dev.winnow.ops;

import dev.winnow.engine.WinnowEngine;
import io.quarkus.runtime.LaunchMode;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.logging.Logger;
import sun.misc.Signal;

/**
 * SIGTERM (and SIGINT) stop the application before the JVM shuts down.
 *
 * <p>By default the JVM answers SIGTERM by running every shutdown hook at once, and ONNX
 * Runtime registers one that releases its native environment: model calls still running in
 * the drain then crash the process (SIGSEGV in {@code libonnxruntime.so}) and every client's
 * connection drops. Here the signal only asks Quarkus to exit: the application stops first
 * (readiness DOWN and 503 for new work at once, the drain, the engine's threads out of native
 * code, the sessions closed), and only then does the JVM run its hooks and exit.
 *
 * <p>The exit status of a SIGTERM stop is 0: the stop was asked for and done in order (every
 * admitted job answered), and Kubernetes reports a container that exits 0 as "Completed"
 * rather than as an "Error" with 143 (the JVM's default, 128 + SIGTERM), which sends operators
 * looking for a crash that did not happen. SIGINT (a terminal's Ctrl-C) keeps the shell's 130.
 *
 * <p>Installed for the packaged application only; dev and test modes keep Quarkus' handling.
 */
@ApplicationScoped
public class TerminationSignal {

    private static final Logger LOG = Logger.getLogger(TerminationSignal.class.getName());

    @Inject
    WinnowEngine engine;

    /**
     * Installed before the models load (this observer runs first), so that a signal during
     * loading, too, stops the application in order once loading ends.
     */
    void install(@Observes @Priority(1) StartupEvent event) {
        if (LaunchMode.current() != LaunchMode.NORMAL) {
            return;
        }
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(name), this::onSignal);
            } catch (IllegalArgumentException e) {
                LOG.warning("cannot handle SIG" + name + " (" + e.getMessage() + "); it will stop the JVM directly");
            }
        }
    }

    private void onSignal(Signal signal) {
        LOG.info("SIG" + signal.getName() + ": stopping the application before the JVM exits");
        engine.beginDrain(); // readiness DOWN before anything else happens
        Quarkus.asyncExit("TERM".equals(signal.getName()) ? 0 : 128 + signal.getNumber());
    }
}
