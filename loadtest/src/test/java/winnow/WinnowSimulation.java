package winnow;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
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
import java.util.List;
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
 *   <li><b>feedback</b>: a generation with its candidates' images, then a person's pick among two
 *       safe ones (204), then the same pick again (409: accepted once). Behind a gateway with several
 *       replicas the pick may land on another replica than the generation: it must count all the
 *       same. The service needs {@code winnow.feedback.dir} (and, with replicas, one
 *       {@code winnow.feedback.secret}).</li>
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

    /** {"generation_id", "chosen", "shown"}: the person saw the first two safe candidates and preferred the second. */
    static String pick(String id, List<Integer> safe) {
        return "{\"generation_id\": \"" + id + "\", \"chosen\": " + safe.get(1) + ", \"shown\": [" + safe.get(0) + ", "
                + safe.get(1) + "]}";
    }

    final ScenarioBuilder feedback = scenario("feedback")
            .feed(mixed())
            .exec(http("feedback: generate").post("/generate")
                    .body(StringBody("{\"prompt\": \"two green triangles\", \"n\": 4, \"seed\": #{seed}, "
                            + "\"return_candidates\": true, \"return_candidate_images\": true}"))
                    .check(status().in(200, 422))
                    .checkIf((response, session) -> response.status().code() == 200)
                    .then(jsonPath("$.id").saveAs("id"),
                            jsonPath("$.candidates[?(@.verdict == 'safe')].index").ofInt().findAll().saveAs("safe")))
            .doIf(session -> session.contains("safe") && session.<Integer>getList("safe").size() >= 2)
            .then(exec(session -> session.set("pick", pick(session.getString("id"), session.getList("safe"))))
                    .exec(http("feedback: pick").post("/feedback").body(StringBody("#{pick}")).check(status().is(204)))
                    .exec(http("feedback: the same pick again").post("/feedback").body(StringBody("#{pick}"))
                            .check(status().is(409))));

    {
        // One after another: the steady, mixed and feedback phases must not share the queue with the overload.
        setUp(steady.injectOpen(constantUsersPerSec(1 * SCALE).during(SECONDS))
                .andThen(overload.injectOpen(rampUsersPerSec(1 * SCALE).to(30 * SCALE).during(SECONDS))
                        .andThen(mixedN.injectOpen(nothingFor(5), constantUsersPerSec(0.5 * SCALE).during(SECONDS))
                                .andThen(feedback.injectOpen(constantUsersPerSec(0.5 * SCALE).during(SECONDS))))))
                .protocols(protocol)
                .assertions(
                        details("steady n=4").failedRequests().percent().lt(1.0),
                        details("steady n=4").responseTime().percentile(95).lt(30_000),
                        details("mixed N").failedRequests().percent().lt(1.0),
                        details("feedback: generate").failedRequests().percent().lt(1.0),
                        details("feedback: pick").failedRequests().percent().is(0.0),
                        details("feedback: the same pick again").failedRequests().percent().is(0.0),
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
