package dev.winnow.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.winnow.engine.EngineLoop;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRoute;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.io.IOException;
import java.io.StringReader;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPPathMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteMatch;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.HTTPRouteRule;
import io.quarkus.test.junit.QuarkusTest;
import java.util.LinkedHashMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every manifest in k8s/ parses into its Kubernetes type (fabric8's models) with no field
 * the type does not know, and the manifests agree with the application (probes, port, and the
 * gateway's routes with the service's own OpenAPI document, which is why it runs the application).
 */
@QuarkusTest
class KubernetesManifestsTest {

    static final Path BASE = Path.of("k8s", "base");
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

    static final Map<String, Class<?>> TYPES = Map.of(
            "configmap.yaml", ConfigMap.class,
            "deployment.yaml", Deployment.class,
            "service.yaml", Service.class,
            "pvc.yaml", PersistentVolumeClaim.class,
            "pdb.yaml", PodDisruptionBudget.class,
            "networkpolicy.yaml", NetworkPolicy.class,
            "servicemonitor.yaml", ServiceMonitor.class,
            "prometheusrule.yaml", PrometheusRule.class,
            "httproute.yaml", HTTPRoute.class,
            "hpa-prometheus-adapter.yaml", HorizontalPodAutoscaler.class);

    @Test
    void everyManifestParsesIntoItsTypeWithNoUnknownFields() throws Exception {
        for (Map.Entry<String, Class<?>> e : TYPES.entrySet()) {
            Object parsed = YAML.readValue(BASE.resolve(e.getKey()).toFile(), e.getValue());
            List<String> unknown = new ArrayList<>();
            collectUnknownFields(parsed, e.getValue().getSimpleName(), unknown, new IdentityHashMap<>());
            assertTrue(unknown.isEmpty(), e.getKey() + " has fields its type does not know: " + unknown);
        }
        Map<Path, Class<?>> components = Map.of(
                FEEDBACK.resolve("pvc.yaml"), PersistentVolumeClaim.class,
                FEEDBACK.resolve("deployment.yaml"), Deployment.class);
        for (Map.Entry<Path, Class<?>> e : components.entrySet()) {
            Object parsed = YAML.readValue(e.getKey().toFile(), e.getValue());
            List<String> unknown = new ArrayList<>();
            collectUnknownFields(parsed, e.getValue().getSimpleName(), unknown, new IdentityHashMap<>());
            assertTrue(unknown.isEmpty(), e.getKey() + " has fields its type does not know: " + unknown);
        }
        List<String> unknown = new ArrayList<>();
        collectUnknownFields(playgroundRule(), "HTTPRouteRule", unknown, new IdentityHashMap<>());
        assertTrue(unknown.isEmpty(), "the playground component's rule has fields its type does not know: " + unknown);
        for (String resource : listed()) {
            // scaledobject.yaml has no fabric8 model: theKedaScaledObjectUsesOnlyKedaFields checks it
            assertTrue(TYPES.containsKey(resource) || resource.equals("scaledobject.yaml"),
                    resource + " is in the kustomization but not checked here");
        }
    }

    @Test
    void theOverlayPatchesParseToo() throws Exception {
        Deployment gpu = YAML.readValue(Path.of("k8s/overlays/gpu/gpu-node.yaml").toFile(), Deployment.class);
        Container c = gpu.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertEquals("1", c.getResources().getLimits().get("nvidia.com/gpu").getAmount());
        // /tmp holds ONNX Runtime's GPU libraries (~615 MB a start, left behind by a crashed container)
        var tmp = gpu.getSpec().getTemplate().getSpec().getVolumes().stream().filter(v -> v.getName().equals("tmp")).findFirst();
        assertTrue(tmp.isPresent() && io.fabric8.kubernetes.api.model.Quantity.getAmountInBytes(tmp.get().getEmptyDir().getSizeLimit())
                .longValue() >= 2L << 30, "the GPU pod's /tmp holds two copies of ONNX Runtime's CUDA libraries");
        Deployment s3 = YAML.readValue(Path.of("k8s/overlays/gpu/init-models-from-s3.yaml").toFile(), Deployment.class);
        assertEquals("fetch-models", s3.getSpec().getTemplate().getSpec().getInitContainers().get(0).getName());
        Deployment sync = YAML.readValue(Path.of("k8s/overlays/gpu/models-sync-sidecar.yaml").toFile(), Deployment.class);
        Container sidecar = sync.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertEquals("models", sidecar.getVolumeMounts().get(0).getName(), "the sidecar writes the pod's models volume");
        assertEquals(185L, sidecar.getSecurityContext().getRunAsUser(), "as the service's uid, so the service can read it");
    }

    /**
     * The overlays render with kustomize (kubectl's), the GPU ones ask for a GPU, each runs the image
     * .ci/container-check builds for it, and the JVM options reach that image's entrypoint (only the CPU
     * image launches the JVM with its quick JIT alone, README, Run); skipped without kubectl.
     */
    @Test
    void bothOverlaysRenderWithKubectlKustomize() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Executables.find("kubectl") != null, "kubectl not installed");
        for (String overlay : OVERLAYS) {
            List<JsonNode> docs = render(Path.of("k8s/overlays", overlay));
            assertEquals(overlay.equals("gpu-feedback") ? 12 : 11, docs.size(), overlay + " renders every resource");
            for (JsonNode doc : docs) {
                assertEquals("winnow", doc.at("/metadata/namespace").asText(), overlay + " " + doc.at("/kind").asText());
                assertEquals("winnow", doc.at("/metadata/labels/app.kubernetes.io~1name").asText(), overlay + " "
                        + doc.at("/kind").asText() + " " + doc.at("/metadata/name").asText());
                if (doc.at("/kind").asText().equals("Deployment")) {
                    Deployment d = YAML.treeToValue(doc, Deployment.class);
                    boolean gpu = d.getSpec().getTemplate().getSpec().getContainers().get(0).getResources().getLimits()
                            .containsKey("nvidia.com/gpu");
                    assertEquals(overlay.startsWith("gpu"), gpu, overlay + " GPU limit");
                    Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
                    String dockerfile = overlay.equals("cpu") ? "Dockerfile.jvm" : "Dockerfile.cuda";
                    assertEquals(builtImage(dockerfile), c.getImage(), overlay + " runs the image built from " + dockerfile);
                    // the image's entrypoint runs java with its own options, then $JAVA_OPTS
                    String javaOpts = c.getEnv().stream().filter(e -> e.getName().equals("JAVA_OPTS"))
                            .map(e -> e.getValue()).findFirst().orElse("");
                    assertTrue(javaOpts.contains("-Dquarkus.config.locations=/config/application.properties"), overlay + ": " + javaOpts);
                    assertTrue(c.getEnv().stream().noneMatch(e -> e.getName().equals("JAVA_TOOL_OPTIONS")
                            || e.getName().equals("JAVA_OPTS_APPEND")), overlay + ": only JAVA_OPTS reaches the entrypoint");
                    String jvm = entrypoint(dockerfile) + " " + javaOpts;
                    assertEquals(overlay.equals("cpu"), jvm.contains("-XX:TieredStopAtLevel=1"), overlay + ": " + jvm);
                    assertEquals(overlay.equals("gpu-feedback"), env(c, "WINNOW_FEEDBACK_DIR") != null,
                            overlay + ": feedback capture on");
                }
            }
        }
    }

    static final List<String> OVERLAYS = List.of("cpu", "gpu", "gpu-feedback");
    static final Path COMPONENTS = Path.of("k8s", "components");
    static final Path FEEDBACK = COMPONENTS.resolve("feedback");

    /** {@code kubectl kustomize DIR}, one node per resource. */
    static List<JsonNode> render(Path dir) throws Exception {
        Process p = new ProcessBuilder(Executables.find("kubectl"), "kustomize", dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), dir + ": " + out);
        return YAML.readerFor(JsonNode.class).<JsonNode>readValues(out).readAll();
    }

    /** An overlay of the repository's own, with components added (as an operator's kustomization would), rendered. */
    static List<JsonNode> renderWith(String overlay, String... components) throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "kustomize-" + overlay + "-" + String.join("-", components)));
        StringBuilder k = new StringBuilder("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                + "resources:\n  - ../../k8s/overlays/" + overlay + "\ncomponents:\n");
        for (String c : components) {
            k.append("  - ../../k8s/components/").append(c).append('\n');
        }
        Files.writeString(dir.resolve("kustomization.yaml"), k);
        return render(dir);
    }

    static <T> List<T> ofKind(List<JsonNode> docs, String kind, Class<T> type) throws IOException {
        List<T> out = new ArrayList<>();
        for (JsonNode doc : docs) {
            if (doc.at("/kind").asText().equals(kind)) {
                out.add(YAML.treeToValue(doc, type));
            }
        }
        return out;
    }

    static EnvVar env(Container c, String name) {
        return c.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst().orElse(null);
    }

    /** KEDA publishes no fabric8 model: the fields used are checked against KEDA's ScaledObject schema here. */
    @Test
    void theKedaScaledObjectUsesOnlyKedaFields() throws Exception {
        ScaledObject so = YAML.readValue(BASE.resolve("scaledobject.yaml").toFile(), ScaledObject.class);
        assertEquals("keda.sh/v1alpha1", so.apiVersion());
        assertEquals("winnow", so.spec().scaleTargetRef().name());
        assertEquals("prometheus", so.spec().triggers().get(0).type());
        assertTrue(so.spec().triggers().get(0).metadata().get("query").contains("winnow_queue_depth"));
    }

    record ScaledObject(String apiVersion, String kind, Map<String, Object> metadata, Spec spec) {
        record Spec(Target scaleTargetRef, Integer minReplicaCount, Integer maxReplicaCount, Integer cooldownPeriod,
                    Integer pollingInterval, List<Trigger> triggers) {
        }

        record Target(String name, String kind, String apiVersion) {
        }

        record Trigger(String type, Map<String, String> metadata, String name) {
        }
    }

    @Test
    void probesAndPortMatchTheApplication() throws IOException {
        Deployment d = YAML.readValue(BASE.resolve("deployment.yaml").toFile(), Deployment.class);
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        Properties app = new Properties();
        try (var in = Files.newBufferedReader(Path.of("src/main/resources/application.properties"))) {
            app.load(in);
        }
        int port = Integer.parseInt(app.getProperty("quarkus.http.port", "8080"));
        assertEquals(port, c.getPorts().get(0).getContainerPort());
        assertEquals("http", c.getPorts().get(0).getName());
        assertEquals("/q/health/started", c.getStartupProbe().getHttpGet().getPath());
        assertEquals("/q/health/ready", c.getReadinessProbe().getHttpGet().getPath());
        assertEquals("/q/health/live", c.getLivenessProbe().getHttpGet().getPath());
        assertEquals("http", c.getStartupProbe().getHttpGet().getPort().getStrVal());
        assertTrue(d.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsNonRoot());
        assertTrue(c.getSecurityContext().getReadOnlyRootFilesystem());
        assertFalse(c.getSecurityContext().getAllowPrivilegeEscalation());
    }

    static final Path DOCKER = Path.of("src", "main", "docker");

    /**
     * The image names and tag the overlays deploy are the ones the build gives (.ci/container-check
     * and the README's commands): ghcr.io/winnow/winnow (CPU) and ghcr.io/winnow/winnow-cuda, tagged
     * with the project's version without -SNAPSHOT.
     */
    @Test
    void theOverlaysDeployTheImagesTheBuildProduces() throws IOException {
        Deployment d = YAML.readValue(BASE.resolve("deployment.yaml").toFile(), Deployment.class);
        String baseImage = d.getSpec().getTemplate().getSpec().getContainers().get(0).getImage();
        String ci = Files.readString(Path.of(".ci", "container-check"));
        String readme = Files.readString(Path.of("README.md"));
        for (String overlay : new String[] {"cpu", "gpu"}) {
            JsonNode images = YAML.readTree(Path.of("k8s", "overlays", overlay, "kustomization.yaml").toFile()).get("images");
            assertEquals(1, images.size(), overlay);
            JsonNode image = images.get(0);
            assertEquals(baseImage.substring(0, baseImage.lastIndexOf(':')), image.get("name").asText(),
                    overlay + " replaces the base's image");
            String dockerfile = overlay.equals("cpu") ? "Dockerfile.jvm" : "Dockerfile.cuda";
            String built = builtImage(dockerfile);
            assertEquals(built, image.get("newName").asText() + ":" + image.get("newTag").asText(), overlay);
            String name = built.substring(0, built.lastIndexOf(':'));
            String variable = overlay.equals("cpu") ? "jvm_image" : "cuda_image";
            assertTrue(ci.contains(variable + "=" + name + ":$tag\n"), ".ci/container-check builds " + name);
            assertTrue(readme.contains("-f src/main/docker/" + dockerfile + " -t " + built + " ."),
                    "the README's build command for " + dockerfile + " tags " + built);
        }
    }

    /**
     * The images run as the Deployment expects: its uid, its port, the entrypoint that hands the pod's
     * JAVA_OPTS to java as PID 1 (exec, so SIGTERM reaches the drain), and the files the ConfigMap
     * names inside the image (the prompt policy) are there.
     */
    @Test
    void theImagesMatchTheDeployment() throws IOException {
        Deployment d = YAML.readValue(BASE.resolve("deployment.yaml").toFile(), Deployment.class);
        var pod = d.getSpec().getTemplate().getSpec();
        Container c = pod.getContainers().get(0);
        for (String dockerfile : new String[] {"Dockerfile.jvm", "Dockerfile.cuda"}) {
            List<String> lines = instructions(dockerfile);
            assertTrue(lines.get(0).startsWith("ARG BASE_IMAGE=docker.io/"), dockerfile + ": a public base by default, "
                    + "replaceable with --build-arg BASE_IMAGE");
            assertEquals("FROM ${BASE_IMAGE}", lines.get(1), dockerfile);
            String user = instruction(lines, "USER");
            assertEquals(pod.getSecurityContext().getRunAsUser(), Long.valueOf(user.split(":")[0]), dockerfile + " USER " + user);
            assertEquals(String.valueOf(c.getPorts().get(0).getContainerPort()), instruction(lines, "EXPOSE"), dockerfile);
            assertEquals("/deployments", instruction(lines, "WORKDIR"), dockerfile + ": the jar's relative default paths resolve there");
            String entrypoint = entrypoint(dockerfile);
            assertTrue(entrypoint.startsWith("exec java ") && entrypoint.contains(" $JAVA_OPTS -jar /deployments/quarkus-run.jar"),
                    dockerfile + ": " + entrypoint);
            String policy = podConfig().getProperty("winnow.policy.path");
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("COPY ") && l.endsWith(" " + policy)),
                    dockerfile + " puts the ConfigMap's winnow.policy.path, " + policy + ", in the image");
            // the embedded packs, so that the image serves its default model with no volume
            for (String pack : List.of(jarConfig().getProperty("winnow.pipeline.path"), "models/judges")) {
                assertTrue(lines.contains("COPY " + pack + "/ /deployments/" + pack + "/"), dockerfile + " carries " + pack);
            }
        }
        assertTrue(c.getEnv().stream().anyMatch(e -> e.getName().equals("JAVA_OPTS")), "the Deployment's JVM options");
    }

    /**
     * With a read-only root filesystem, the only writable paths are the Deployment's emptyDirs: /tmp
     * (java.io.tmpdir: ONNX Runtime unpacks its native libraries there) and the graph cache's folder.
     * .ci/container-check runs the image with exactly these writable, and the README names them.
     */
    @Test
    void onlyTheEmptyDirsAreWritableAndTheyAreWhatTheServiceWrites() throws IOException {
        Deployment d = YAML.readValue(BASE.resolve("deployment.yaml").toFile(), Deployment.class);
        var pod = d.getSpec().getTemplate().getSpec();
        Container c = pod.getContainers().get(0);
        Set<String> emptyDirs = new java.util.HashSet<>();
        pod.getVolumes().stream().filter(v -> v.getEmptyDir() != null).forEach(v -> emptyDirs.add(v.getName()));
        List<String> writable = new ArrayList<>();
        Map<String, String> mounts = new java.util.HashMap<>();
        for (var m : c.getVolumeMounts()) {
            mounts.put(m.getMountPath(), m.getName());
            if (emptyDirs.contains(m.getName())) {
                writable.add(m.getMountPath());
            } else {
                assertTrue(Boolean.TRUE.equals(m.getReadOnly()), m.getMountPath() + " is mounted read-only");
            }
        }
        assertEquals(List.of("/tmp", "/var/cache/winnow"), writable);
        Properties p = podConfig();
        assertTrue(under(p.getProperty("winnow.engine.graph-cache-dir"), writable), "the graph cache is written");
        if (p.getProperty("winnow.feedback.dir") != null) {
            assertTrue(under(p.getProperty("winnow.feedback.dir"), writable), "feedback is written");
        }
        for (String key : List.of("winnow.pipeline.path", "winnow.judges.safety.path", "winnow.judges.aesthetic.path",
                "winnow.judges.faithfulness.path")) {
            assertEquals("models", mounts.get("/" + Path.of(p.getProperty(key)).getName(0)), key + " is on the models volume");
        }
        String ci = Files.readString(Path.of(".ci", "container-check"));
        assertTrue(ci.contains("writable=(" + String.join(" ", writable) + ")\n"), ".ci/container-check runs the pod's writable paths");
        String readme = Files.readString(Path.of("README.md"));
        for (String path : writable) {
            assertTrue(readme.contains("`" + path + "`"), "the README names the writable path " + path);
        }
    }

    static boolean under(String path, List<String> folders) {
        return folders.stream().anyMatch(f -> Path.of(path).normalize().startsWith(f));
    }

    /** The image a Dockerfile's header says to build (its "-t NAME:TAG"), checked against the project version. */
    static String builtImage(String dockerfile) throws IOException {
        String pom = Files.readString(Path.of("pom.xml"));
        java.util.regex.Matcher v = java.util.regex.Pattern.compile("(?m)^  <version>([^<]+)</version>$").matcher(pom);
        assertTrue(v.find(), "the project's version");
        String tag = v.group(1).replace("-SNAPSHOT", "");
        String name = dockerfile.equals("Dockerfile.jvm") ? "ghcr.io/winnow/winnow" : "ghcr.io/winnow/winnow-cuda";
        assertTrue(Files.readString(DOCKER.resolve(dockerfile)).contains(" -t " + name + ":" + tag + " ."),
                dockerfile + "'s build command tags " + name + ":" + tag);
        return name + ":" + tag;
    }

    /** A Dockerfile's instructions, comments and continuation lines joined. */
    static List<String> instructions(String dockerfile) throws IOException {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(DOCKER.resolve(dockerfile))) {
            String t = line.strip();
            if (t.isEmpty() || t.startsWith("#")) {
                continue;
            }
            current.append(t.endsWith("\\") ? t.substring(0, t.length() - 1) + " " : t);
            if (!t.endsWith("\\")) {
                out.add(current.toString());
                current.setLength(0);
            }
        }
        return out;
    }

    static String instruction(List<String> lines, String keyword) {
        List<String> found = lines.stream().filter(l -> l.startsWith(keyword + " ")).toList();
        assertEquals(1, found.size(), keyword + ": " + found);
        return found.get(0).substring(keyword.length() + 1).strip();
    }

    /** The shell command of a Dockerfile's ENTRYPOINT ["sh", "-c", "…"]. */
    static String entrypoint(String dockerfile) throws IOException {
        JsonNode e = new ObjectMapper().readTree(instruction(instructions(dockerfile), "ENTRYPOINT"));
        assertEquals("sh", e.get(0).asText(), dockerfile + ": the base gives a POSIX shell");
        assertEquals("-c", e.get(1).asText(), dockerfile);
        return e.get(2).asText();
    }

    /** The pod's application.properties (the ConfigMap) as the service reads it. */
    static Properties podConfig() throws IOException {
        ConfigMap cm = YAML.readValue(BASE.resolve("configmap.yaml").toFile(), ConfigMap.class);
        Properties p = new Properties();
        p.load(new StringReader(cm.getData().get("application.properties")));
        return p;
    }

    /** The defaults packaged in the jar (src/main/resources/application.properties). */
    static Properties jarConfig() throws IOException {
        Properties p = new Properties();
        try (var in = Files.newBufferedReader(Path.of("src/main/resources/application.properties"))) {
            p.load(in);
        }
        return p;
    }

    /**
     * SIGTERM comes after preStop; then readiness DOWN and the delay, then the HTTP server waits
     * up to the timeout for the admitted jobs' answers, then the engine stops (up to 10 s) and
     * closes its models. All of it must end before the kubelet's SIGKILL.
     */
    @Test
    void theGracePeriodOutlastsPreStopTheDrainAndTheEnginesStop() throws IOException {
        Deployment d = YAML.readValue(BASE.resolve("deployment.yaml").toFile(), Deployment.class);
        Properties p = podConfig();
        long preStop = d.getSpec().getTemplate().getSpec().getContainers().get(0).getLifecycle().getPreStop().getSleep()
                .getSeconds();
        long drain = preStop + seconds(p.getProperty("quarkus.shutdown.delay")) + seconds(p.getProperty("quarkus.shutdown.timeout"))
                + TimeUnit.MILLISECONDS.toSeconds(EngineLoop.STOP_WAIT_MILLIS);
        assertTrue(d.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds() > drain,
                "terminationGracePeriodSeconds must exceed preStop + delay + timeout + the engine's stop = " + drain);
    }

    /**
     * A drain waits at least as long as an admitted job may take, so a job admitted just before
     * SIGTERM ends by its own deadline (image or 504) rather than by the drain's 503; in the pod
     * and in the jar's defaults alike.
     */
    @Test
    void theShutdownTimeoutLetsEveryAdmittedJobReachItsDeadline() throws IOException {
        for (Properties p : List.of(podConfig(), jarConfig())) {
            long deadline = seconds(p.getProperty("winnow.engine.default-deadline", "120s"));
            long timeout = seconds(p.getProperty("quarkus.shutdown.timeout"));
            assertTrue(timeout >= deadline, "quarkus.shutdown.timeout (" + timeout + " s) must be at least "
                    + "winnow.engine.default-deadline (" + deadline + " s)");
            assertEquals("true", p.getProperty("quarkus.shutdown.delay-enabled"),
                    "the drain begins with the shutdown delay's event");
            long liveness = seconds(p.getProperty("winnow.engine.liveness-timeout", "150s"));
            assertTrue(liveness > deadline, "liveness-timeout must exceed the deadline a model call may run to");
        }
        assertEquals(seconds(jarConfig().getProperty("quarkus.shutdown.timeout")),
                seconds(podConfig().getProperty("quarkus.shutdown.timeout")), "the pod drains as the jar's defaults say");
    }

    @Test
    void theGatewayTimeoutSitsAboveTheServiceDeadline() throws IOException {
        HTTPRoute route = YAML.readValue(BASE.resolve("httproute.yaml").toFile(), HTTPRoute.class);
        long deadline = seconds(podConfig().getProperty("winnow.engine.default-deadline"));
        long gateway = seconds(ruleFor(route, "/generate").getTimeouts().getRequest());
        assertTrue(gateway > deadline, "the gateway must wait longer than the service's deadline, so clients get its 504");
    }

    /**
     * Operations of the OpenAPI document the gateway must not route, and why. None today: {@code
     * /q/*} (health, metrics, OpenAPI, Swagger UI) is internal by rule, and the admin listener
     * ({@code /models}, {@code /models/reload}) is a port of its own, on loopback, outside the document.
     */
    static final Map<String, String> INTERNAL = Map.of();

    /** Operations that may run up to the engine's deadline: their rule's timeout sits above it. The rest are quick. */
    static final Set<String> LONG = Set.of("/generate", "/v1/images/generations");

    /** Paths that must never be routed: management, on the service's port or the admin listener's. */
    static final List<String> NEVER = List.of("/q/health/ready", "/q/health/live", "/q/metrics", "/q/openapi",
            "/q/swagger-ui", "/models", "/models/reload");

    /**
     * Every public operation of the service's own OpenAPI document ({@code /q/openapi} of the
     * application under test) is routed by the gateway, in every overlay as kustomize renders it
     * (the base file as written, checked to be unpatched, without kubectl), with a timeout that
     * fits it: generation above the engine's deadline (the service's own 504 reaches the client),
     * quick calls below it and above the body timeout (the service's own 408). Nothing else is
     * routed, and management never: a new route cannot be forgotten, nor an old one linger.
     */
    @Test
    void everyPublicOperationIsRoutedOnPurposeWithATimeoutThatFitsIt() throws Exception {
        Map<String, Set<String>> operations = openApiOperations();
        assertTrue(operations.keySet().containsAll(LONG), "the document lists " + operations.keySet());
        long deadline = seconds(podConfig().getProperty("winnow.engine.default-deadline"));
        long bodyTimeout = seconds(podConfig().getProperty("winnow.http.body-timeout", "10s"));
        for (Map.Entry<String, HTTPRoute> e : routes().entrySet()) {
            HTTPRoute route = e.getValue();
            String where = e.getKey();
            for (String path : operations.keySet()) {
                if (path.startsWith("/q/") || INTERNAL.containsKey(path)) {
                    assertEquals(null, ruleFor(route, path), where + " routes the internal " + path);
                    continue;
                }
                HTTPRouteRule rule = ruleFor(route, path);
                assertTrue(rule != null, where + " does not route " + operations.get(path) + " " + path
                        + ": route it in k8s/base/httproute.yaml, or name it in INTERNAL with the reason");
                long timeout = seconds(rule.getTimeouts().getRequest());
                if (LONG.contains(path)) {
                    assertTrue(timeout > deadline, where + ": " + path + " waits " + timeout + " s, not above the deadline");
                } else {
                    assertTrue(timeout > bodyTimeout && timeout < deadline, where + ": " + path + " waits " + timeout
                            + " s: a quick call's timeout sits between the body timeout and the deadline");
                }
            }
            for (String path : routedPaths(route)) {
                assertTrue(operations.containsKey(path), where + " routes " + path + ", which the service does not serve");
            }
            for (String path : NEVER) {
                assertEquals(null, ruleFor(route, path), where + " routes the management path " + path);
            }
        }
    }

    /** The route as each overlay renders it; without kubectl, the base file (which no overlay patches then). */
    static Map<String, HTTPRoute> routes() throws Exception {
        Map<String, HTTPRoute> out = new LinkedHashMap<>();
        if (Executables.find("kubectl") != null) {
            for (String overlay : OVERLAYS) {
                List<HTTPRoute> r = ofKind(render(Path.of("k8s/overlays", overlay)), "HTTPRoute", HTTPRoute.class);
                assertEquals(1, r.size(), overlay);
                out.put("k8s/overlays/" + overlay, r.get(0));
            }
            return out;
        }
        for (String overlay : OVERLAYS) {
            String k = Files.readString(Path.of("k8s/overlays", overlay, "kustomization.yaml"));
            assertFalse(k.contains("HTTPRoute") || k.contains("components/playground"), overlay + " changes the route: "
                    + "this check needs kubectl to render it");
        }
        out.put("k8s/base/httproute.yaml", YAML.readValue(BASE.resolve("httproute.yaml").toFile(), HTTPRoute.class));
        return out;
    }

    /** Path → its HTTP methods, from the running application's {@code /q/openapi}. */
    static Map<String, Set<String>> openApiOperations() throws IOException {
        JsonNode doc = new ObjectMapper().readTree(io.restassured.RestAssured.given().queryParam("format", "json")
                .get("/q/openapi").then().statusCode(200).extract().asString());
        Map<String, Set<String>> out = new java.util.TreeMap<>();
        doc.path("paths").fields().forEachRemaining(p -> {
            Set<String> methods = new TreeSet<>();
            p.getValue().fieldNames().forEachRemaining(m -> methods.add(m.toUpperCase(java.util.Locale.ROOT)));
            out.put(p.getKey(), methods);
        });
        assertFalse(out.isEmpty(), "the OpenAPI document has paths");
        return out;
    }

    /** The rule that routes {@code path} (the first that matches, as the Gateway API picks among equals), or null. */
    static HTTPRouteRule ruleFor(HTTPRoute route, String path) {
        for (HTTPRouteRule rule : route.getSpec().getRules()) {
            List<HTTPRouteMatch> matches = rule.getMatches();
            if (matches == null || matches.isEmpty()) {
                return rule; // no match: the Gateway API's default, PathPrefix /, routes everything
            }
            for (HTTPRouteMatch m : matches) {
                HTTPPathMatch p = m.getPath();
                String type = p == null || p.getType() == null ? "PathPrefix" : p.getType();
                String value = p == null || p.getValue() == null ? "/" : p.getValue();
                boolean hit = switch (type) {
                    case "Exact" -> path.equals(value);
                    case "PathPrefix" -> value.equals("/") || path.equals(value) || path.startsWith(value.endsWith("/")
                            ? value : value + "/");
                    default -> throw new AssertionError("a " + type + " match: this test reads Exact and PathPrefix only");
                };
                if (hit) {
                    return rule;
                }
            }
        }
        return null;
    }

    static List<String> routedPaths(HTTPRoute route) {
        List<String> out = new ArrayList<>();
        for (HTTPRouteRule rule : route.getSpec().getRules()) {
            for (HTTPRouteMatch m : rule.getMatches()) {
                out.add(m.getPath().getValue());
            }
        }
        return out;
    }

    /** The rule k8s/components/playground adds to the route. */
    static HTTPRouteRule playgroundRule() throws IOException {
        JsonNode k = YAML.readTree(COMPONENTS.resolve("playground").resolve("kustomization.yaml").toFile());
        JsonNode patch = YAML.readTree(k.at("/patches/0/patch").asText());
        assertEquals("HTTPRoute", k.at("/patches/0/target/kind").asText());
        assertEquals("add", patch.at("/0/op").asText());
        assertEquals("/spec/rules/-", patch.at("/0/path").asText());
        return YAML.treeToValue(patch.at("/0/value"), HTTPRouteRule.class);
    }

    /**
     * The playground is an option: k8s/components/playground routes the page and every file it is
     * made of (the static resources the application serves, each answering 200), with a quick
     * timeout; without the component, the page is not routed.
     */
    @Test
    void thePlaygroundIsAnOptionThatRoutesThePageAndItsFiles() throws Exception {
        List<String> files = new ArrayList<>();
        Path root = Path.of("src/main/resources/META-INF/resources");
        try (Stream<Path> walk = Files.walk(root)) {
            walk.filter(Files::isRegularFile).forEach(f -> files.add("/" + root.relativize(f).toString().replace('\\', '/')));
        }
        assertTrue(files.contains("/index.html"), "the playground's page: " + files);
        files.add("/"); // index.html, as the browser asks for it
        HTTPRoute base = YAML.readValue(BASE.resolve("httproute.yaml").toFile(), HTTPRoute.class);
        assertEquals(null, ruleFor(base, "/"), "the playground is off unless an operator adds its component");
        HTTPRoute withPlayground;
        if (Executables.find("kubectl") != null) {
            withPlayground = ofKind(renderWith("gpu", "playground"), "HTTPRoute", HTTPRoute.class).get(0);
        } else {
            withPlayground = base;
            withPlayground.getSpec().getRules().add(playgroundRule());
        }
        long deadline = seconds(podConfig().getProperty("winnow.engine.default-deadline"));
        for (String path : files) {
            HTTPRouteRule rule = ruleFor(withPlayground, path);
            assertTrue(rule != null, "the playground component routes " + path);
            assertTrue(seconds(rule.getTimeouts().getRequest()) < deadline, path + ": a quick timeout");
            io.restassured.RestAssured.given().get(path).then().statusCode(200);
        }
        for (String path : routedPaths(withPlayground)) {
            assertTrue(files.contains(path) || openApiOperations().containsKey(path), "routes " + path
                    + ", which the service does not serve");
        }
        for (String path : NEVER) {
            assertEquals(null, ruleFor(withPlayground, path), "the playground routes the management path " + path);
        }
    }

    /**
     * With feedback on (k8s/components/feedback, k8s/overlays/gpu-feedback), every replica the
     * autoscaler may start signs ids with one key from a Secret (never a literal, never optional: a
     * pod without it does not start) and writes one ReadWriteMany volume, mounted writable where
     * {@code winnow.feedback.dir} points (README, "Feedback on many replicas").
     */
    @Test
    void withFeedbackOnEveryReplicaSharesOneSecretAndOneVolume() throws Exception {
        Deployment d;
        List<PersistentVolumeClaim> claims;
        if (Executables.find("kubectl") != null) {
            List<JsonNode> docs = render(Path.of("k8s/overlays/gpu-feedback"));
            d = ofKind(docs, "Deployment", Deployment.class).get(0);
            claims = ofKind(docs, "PersistentVolumeClaim", PersistentVolumeClaim.class);
        } else {
            d = YAML.readValue(FEEDBACK.resolve("deployment.yaml").toFile(), Deployment.class);
            claims = List.of(YAML.readValue(FEEDBACK.resolve("pvc.yaml").toFile(), PersistentVolumeClaim.class));
        }
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        EnvVar secret = env(c, "WINNOW_FEEDBACK_SECRET");
        assertTrue(secret != null && secret.getValue() == null && secret.getValueFrom().getSecretKeyRef() != null,
                "the signing key comes from a Secret: " + secret);
        assertFalse(Boolean.TRUE.equals(secret.getValueFrom().getSecretKeyRef().getOptional()),
                "a pod without the Secret must not start (and sign with a key of its own)");
        assertTrue(Files.readString(Path.of("README.md")).contains("create secret generic "
                + secret.getValueFrom().getSecretKeyRef().getName() + " "), "the README says how to create the Secret");
        String dir = env(c, "WINNOW_FEEDBACK_DIR").getValue();
        VolumeMount mount = c.getVolumeMounts().stream().filter(m -> Path.of(dir).startsWith(m.getMountPath()))
                .findFirst().orElseThrow(() -> new AssertionError(dir + " is on no volume"));
        assertFalse(Boolean.TRUE.equals(mount.getReadOnly()), "the feedback volume is writable");
        String claim = d.getSpec().getTemplate().getSpec().getVolumes().stream().filter(v -> v.getName().equals(mount.getName()))
                .findFirst().orElseThrow().getPersistentVolumeClaim().getClaimName();
        PersistentVolumeClaim pvc = claims.stream().filter(p -> p.getMetadata().getName().equals(claim)).findFirst()
                .orElseThrow(() -> new AssertionError("the claim " + claim + " is not rendered"));
        assertEquals(List.of("ReadWriteMany"), pvc.getSpec().getAccessModes(), "one volume every replica writes");
        ScaledObject so = YAML.readValue(BASE.resolve("scaledobject.yaml").toFile(), ScaledObject.class);
        assertTrue(so.spec().maxReplicaCount() > 1, "the reason for all this: several replicas");
    }

    static long seconds(String duration) {
        String d = duration.trim();
        if (d.endsWith("ms")) {
            return Long.parseLong(d.substring(0, d.length() - 2)) / 1000;
        }
        if (d.endsWith("m")) {
            return Long.parseLong(d.substring(0, d.length() - 1)) * 60;
        }
        return Long.parseLong(d.replace("s", ""));
    }

    static List<String> listed() throws IOException {
        JsonNode k = YAML.readTree(BASE.resolve("kustomization.yaml").toFile());
        List<String> out = new ArrayList<>();
        k.get("resources").forEach(n -> out.add(n.asText()));
        return out;
    }

    /** fabric8 keeps unknown fields in additionalProperties maps: any non-empty one is a typo or a wrong level. */
    static void collectUnknownFields(Object o, String path, List<String> unknown, Map<Object, Boolean> seen) {
        if (o == null || seen.containsKey(o)) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object x : c) {
                collectUnknownFields(x, path + "[" + i++ + "]", unknown, seen);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> collectUnknownFields(v, path + "." + k, unknown, seen));
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8")) {
            return;
        }
        seen.put(o, true);
        try {
            for (PropertyDescriptor pd : Introspector.getBeanInfo(o.getClass()).getPropertyDescriptors()) {
                Method get = pd.getReadMethod();
                if (get == null || get.getParameterCount() > 0) {
                    continue;
                }
                Object v = get.invoke(o);
                if (pd.getName().equals("additionalProperties")) {
                    if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                        unknown.add(path + " " + extra.keySet());
                    }
                } else if (!pd.getName().equals("class")) {
                    collectUnknownFields(v, path + "." + pd.getName(), unknown, seen);
                }
            }
        } catch (Exception e) {
            fail("cannot inspect " + path + ": " + e);
        }
    }
}
