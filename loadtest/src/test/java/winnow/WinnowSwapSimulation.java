package winnow;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A new model version goes into service mid-run: a constant load of best-of-4 requests for
 * -Dseconds (default 60) at -Drate requests/s (default 1), and at half time the new version is
 * published and taken. Every request must succeed (no 5xx, no 503: readiness never drops), and
 * the run counts the answers each pipeline version gave (the responses' model_version).
 *
 * <p>Publishing the version is yours, because it depends on where the packs live:
 * <ul>
 *   <li>-DswapCommand='...': a shell command run on the Gatling host at half time (on one host,
 *       e.g. {@code ln -sfn /models/shapes-scenes-r1 /models/shapes-scenes.tmp && mv -T
 *       /models/shapes-scenes.tmp /models/shapes-scenes}); on a cluster, a command that publishes
 *       to the models volume (e.g. {@code kubectl create job --from=cronjob/publish-models ...});</li>
 *   <li>-DadminUrl=http://127.0.0.1:9400: then POST /models/reload there right after, so the swap
 *       does not wait for the next poll (on a cluster, through {@code kubectl port-forward} to one
 *       pod; the others take it at their next poll).</li>
 * </ul>
 * With -DexpectSwap=true the run fails unless answers came from at least two versions.
 * Only for loopback or your own test service: -DbaseUrl=http://localhost:8080.
 */
public class WinnowSwapSimulation extends Simulation {

    static final String BASE_URL = System.getProperty("baseUrl", "http://localhost:8080");
    static final double RATE = Double.parseDouble(System.getProperty("rate", "1"));
    static final int SECONDS = Integer.parseInt(System.getProperty("seconds", "60"));
    static final String SWAP_COMMAND = unquoted(System.getProperty("swapCommand", ""));
    static final String ADMIN_URL = System.getProperty("adminUrl", "");
    static final boolean EXPECT_SWAP = Boolean.parseBoolean(System.getProperty("expectSwap", "false"));
    static final Map<String, AtomicLong> ANSWERS_BY_VERSION = new ConcurrentHashMap<>();

    final HttpProtocolBuilder protocol = http.baseUrl(BASE_URL)
            .contentTypeHeader("application/json")
            .acceptHeader("application/json");

    final ScenarioBuilder steady = scenario("through a swap")
            .exec(http("best of 4").post("/generate")
                    .body(StringBody("{\"prompt\": \"a red circle to the left of a blue square\", \"n\": 4}"))
                    .check(status().is(200))
                    .check(jsonPath("$.model_version").saveAs("version")))
            .exec(session -> {
                if (session.contains("version")) {
                    ANSWERS_BY_VERSION.computeIfAbsent(session.getString("version"), v -> new AtomicLong()).incrementAndGet();
                }
                return session;
            });

    private final ScheduledExecutorService halfTime = Executors.newSingleThreadScheduledExecutor();

    {
        setUp(steady.injectOpen(constantUsersPerSec(RATE).during(SECONDS)))
                .protocols(protocol)
                .assertions(global().failedRequests().count().is(0L));
    }

    @Override
    public void before() {
        halfTime.schedule(WinnowSwapSimulation::publish, SECONDS / 2, TimeUnit.SECONDS);
    }

    /** The Gatling plugin hands a forked run its system properties quoted when they hold spaces. */
    static String unquoted(String s) {
        String t = s.strip();
        return t.length() >= 2 && t.startsWith("\"") && t.endsWith("\"") ? t.substring(1, t.length() - 1) : t;
    }

    /** Publishes the new version (the command), then asks for it at once (the admin port). */
    static void publish() {
        try {
            if (!SWAP_COMMAND.isBlank()) {
                int exit = new ProcessBuilder("sh", "-c", SWAP_COMMAND).inheritIO().start().waitFor();
                System.out.println("swap command exited " + exit + ": " + SWAP_COMMAND);
            }
            if (!ADMIN_URL.isBlank()) {
                HttpResponse<String> r = HttpClient.newHttpClient().send(
                        HttpRequest.newBuilder(URI.create(ADMIN_URL + "/models/reload"))
                                .POST(HttpRequest.BodyPublishers.noBody()).build(),
                        HttpResponse.BodyHandlers.ofString());
                System.out.println("reload: " + r.statusCode() + " " + r.body());
            }
        } catch (IOException e) {
            System.out.println("publishing the new version failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void after() {
        halfTime.shutdownNow();
        System.out.println("answers by pipeline version: " + ANSWERS_BY_VERSION);
        if (EXPECT_SWAP && ANSWERS_BY_VERSION.size() < 2) {
            throw new IllegalStateException("expected answers from two versions (before and after the swap), got "
                    + ANSWERS_BY_VERSION.keySet());
        }
    }
}
