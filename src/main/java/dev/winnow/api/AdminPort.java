package dev.winnow.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.ModelReload;
import dev.winnow.engine.WinnowConfig;
import dev.winnow.engine.WinnowEngine;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.jboss.logging.Logger;

/**
 * The admin listener: a port of its own ({@code winnow.models.admin-port}, on loopback by
 * default), never routed by the gateway, for what only an operator may do:
 * <ul>
 *   <li>{@code GET /models}: the versions serving new jobs and how many model sets are in memory;</li>
 *   <li>{@code POST /models/reload}: check the configured model folders now and swap in a new
 *       version (200 swapped or unchanged, 409 refused by the memory budget, 422 failed to load or
 *       warm up; the version in service stays on either refusal).</li>
 * </ul>
 * In Kubernetes: {@code kubectl exec POD -- curl -s -X POST localhost:9400/models/reload}, or a
 * port-forward. It is a listener of its own rather than Quarkus' management interface, which
 * would move {@code /q/health} and {@code /q/metrics} (and so every probe and scrape) to its port.
 */
@ApplicationScoped
public class AdminPort {

    private static final Logger LOG = Logger.getLogger(AdminPort.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Vertx vertx;

    @Inject
    WinnowEngine engine;

    @Inject
    WinnowConfig config;

    private volatile HttpServer server;

    void onStart(@Observes StartupEvent event) {
        int port = config.models().adminPort();
        if (port < 0) {
            return;
        }
        Router router = Router.router(vertx);
        router.get("/models").handler(ctx -> answer(ctx, 200, status(null)));
        router.post("/models/reload").blockingHandler(ctx -> {
            ModelReload r = engine.reloadModels();
            answer(ctx, switch (r.outcome()) {
                case SWAPPED, UNCHANGED -> 200;
                case REFUSED -> 409;
                case FAILED -> 422;
            }, status(r));
        }, false);
        server = listen(vertx.createHttpServer().requestHandler(router), port, config.models().adminHost());
        LOG.infof("admin port %s:%d: GET /models, POST /models/reload", config.models().adminHost(), server.actualPort());
    }

    /**
     * Binds, or fails startup with a message that names the address and the setting. Why: the
     * bare bind error ("Address already in use") does not say which of the service's two ports
     * it was, and the usual cause is a second instance on one host, whose fix is this setting.
     */
    static HttpServer listen(HttpServer unbound, int port, String host) {
        try {
            return unbound.listen(port, host).toCompletionStage().toCompletableFuture().join();
        } catch (CompletionException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException("the admin listener cannot bind " + host + ":" + port
                    + " (winnow.models.admin-port): " + cause.getMessage()
                    + "; another instance on this host holds it? Give each instance its own"
                    + " winnow.models.admin-port, or -1 to turn the admin listener off", cause);
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        HttpServer s = server;
        if (s != null) {
            s.close();
        }
    }

    /** The port it listens on (the configured one, or the one picked for 0); -1 when off. */
    public int port() {
        HttpServer s = server;
        return s == null ? -1 : s.actualPort();
    }

    private Map<String, Object> status(ModelReload reload) {
        Map<String, Object> body = new LinkedHashMap<>();
        if (reload != null) {
            body.put("outcome", reload.outcome().wireName());
            body.put("detail", reload.detail());
        }
        body.put("serving", reload != null ? reload.serving() : engine.modelVersions());
        body.put("model_sets", engine.liveModelSets());
        return body;
    }

    private static void answer(RoutingContext ctx, int status, Map<String, Object> body) {
        try {
            ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                    .end(JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            ctx.fail(e);
        }
    }
}
