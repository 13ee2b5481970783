package dev.winnow.api;

import dev.winnow.engine.WinnowConfig;
import dev.winnow.engine.WinnowEngine;
import dev.winnow.policy.PolicyFile;
import dev.winnow.policy.PromptPolicy;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The prompt policy in front of the engine: a refused prompt costs no model time. The policy
 * file ({@code winnow.policy.path}) is re-read when it changes ({@code winnow.policy.reload-interval});
 * refusals are logged with the rule id and a hash of the prompt (the prompt itself only with
 * {@code winnow.policy.log-prompts}) and counted in {@code winnow_rejected_total{reason="policy"}}.
 */
@ApplicationScoped
public class PromptGate {

    private static final Logger LOG = Logger.getLogger(PromptGate.class);

    @Inject
    WinnowConfig config;

    @Inject
    WinnowEngine engine;

    @Inject
    io.micrometer.core.instrument.MeterRegistry registry;

    /** Read at startup (startup fails when it cannot be read), refreshed by the watcher. */
    private volatile PolicyFile file;
    private ScheduledExecutorService watcher;

    void onStart(@Observes StartupEvent event) {
        Path path = Path.of(config.policy().path());
        file = new PolicyFile(path);
        LOG.infof("prompt policy %s: %d rules", path.toAbsolutePath(), file.policy().rules().size());
        io.micrometer.core.instrument.FunctionCounter.builder("winnow.policy.reload.failures", this,
                        g -> g.file.reloadFailures())
                .description("Changes of the prompt policy file that could not be used (the last good policy stayed)")
                .register(registry);
        io.micrometer.core.instrument.Gauge.builder("winnow.policy.rules", this, g -> g.file.policy().rules().size())
                .description("Rules of the prompt policy in force").register(registry);
        watcher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "winnow-policy-reload");
            t.setDaemon(true);
            return t;
        });
        long every = Math.max(100, config.policy().reloadInterval().toMillis());
        watcher.scheduleWithFixedDelay(file::refresh, every, every, TimeUnit.MILLISECONDS);
    }

    void onStop(@Observes ShutdownEvent event) {
        if (watcher != null) {
            watcher.shutdownNow();
        }
    }

    /**
     * @throws PromptRefusedException when the prompt breaks a rule (counted and logged here)
     */
    public void check(String prompt) {
        Optional<PromptPolicy.Match> m = file.policy().check(prompt);
        if (m.isPresent()) {
            engine.recordRefused();
            LOG.infof("prompt refused by rule '%s' (category '%s'), prompt sha256 %s%s", m.get().ruleId(),
                    m.get().category(), sha256(prompt), config.policy().logPrompts() ? ": " + prompt : "");
            throw new PromptRefusedException(m.get().ruleId());
        }
    }

    static String sha256(String text) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
