package winnow;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.nothingFor;
import static io.gatling.javaapi.core.CoreDsl.rampUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.header;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Winnow under load, three scenarios one after another (rates scale with -Dscale, default 1, sized
 * for the embedded pack on a small CPU machine):
 * <ul>
 *   <li><b>steady</b>: a constant rate well under capacity; must see no failures and a bounded p95.</li>
 *   <li><b>overload</b>: ramps far past capacity; past it the service must answer 429 with
 *       Retry-After at once — never 5xx. 429s are marked KO ("found 429") so the report shows them;
 *       any 5xx is counted and fails the run.</li>
 *   <li><b>mixed N</b>: N drawn from 1, 2, 4, 8, 16 with random seeds; no failures.</li>
 * </ul>
 * Only for loopback or your own test service: -DbaseUrl=http://localhost:8080.
 */
public class WinnowSimulation extends Simulation {

    static final String BASE_URL = System.getProperty("baseUrl", "http://localhost:8080");
    static final double SCALE = Double.parseDouble(System.getProperty("scale", "1"));
    /** Length of each of the three phases. */
    static final int SECONDS = Integer.parseInt(System.getProperty("seconds", "30"));
    static final AtomicInteger SERVER_ERRORS = new AtomicInteger();

    final HttpProtocolBuilder protocol = http.baseUrl(BASE_URL)
            .contentTypeHeader("application/json")
            .acceptHeader("application/json");

    static Iterator<Map<String, Object>> mixed() {
        int[] ns = {1, 2, 4, 8, 16};
        return Stream.generate(() -> Map.<String, Object>of(
                "n", ns[ThreadLocalRandom.current().nextInt(ns.length)],
                "seed", ThreadLocalRandom.current().nextLong(1L << 40))).iterator();
    }

    final ScenarioBuilder steady = scenario("steady")
            .exec(http("steady n=4").post("/generate")
                    .body(StringBody("{\"prompt\": \"a red circle on a white background\", \"n\": 4}"))
                    .check(status().in(200, 422)));

    final ScenarioBuilder overload = scenario("overload")
            .exec(http("overload n=8").post("/generate")
                    .body(StringBody("{\"prompt\": \"a blue square on a gray background\", \"n\": 8}"))
                    .check(status().saveAs("status"))
                    .checkIf((response, session) -> response.status().code() == 429)
                    .then(header("Retry-After").exists())
                    .check(status().in(200, 422)))
            .exec(session -> {
                if (session.getInt("status") >= 500) {
                    SERVER_ERRORS.incrementAndGet();
                }
                return session;
            });

    final ScenarioBuilder mixedN = scenario("mixed N")
            .feed(mixed())
            .exec(http("mixed N").post("/generate")
                    .body(StringBody("{\"prompt\": \"a green triangle\", \"n\": #{n}, \"seed\": #{seed}}"))
                    .check(status().in(200, 422)));

    {
        // One after another: the steady and mixed phases must not share the queue with the overload.
        setUp(steady.injectOpen(constantUsersPerSec(1 * SCALE).during(SECONDS))
                .andThen(overload.injectOpen(rampUsersPerSec(1 * SCALE).to(30 * SCALE).during(SECONDS))
                        .andThen(mixedN.injectOpen(nothingFor(5), constantUsersPerSec(0.5 * SCALE).during(SECONDS)))))
                .protocols(protocol)
                .assertions(
                        details("steady n=4").failedRequests().percent().lt(1.0),
                        details("steady n=4").responseTime().percentile(95).lt(30_000),
                        details("mixed N").failedRequests().percent().lt(1.0),
                        global().responseTime().max().lt(130_000));
    }

    @Override
    public void after() {
        System.out.println("server errors (5xx) during the run: " + SERVER_ERRORS.get());
        if (SERVER_ERRORS.get() > 0) {
            throw new IllegalStateException(SERVER_ERRORS.get() + " responses were 5xx; overload must give 429s only");
        }
    }
}
