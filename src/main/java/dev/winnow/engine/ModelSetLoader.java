package dev.winnow.engine;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.modelpack.ModelFolder;
import dev.winnow.onnx.Futures;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Builds a {@link ModelSet} from the configured folders: the pipeline and every judge open at
 * once (the judges on a pool, the pipeline's three graphs on the same pool while the calling
 * thread waits), and a model whose folder did not change since {@code current} was built is
 * taken from {@code current} instead of being loaded again. On any failure the models it loaded
 * are closed and the first error in the order of a one-by-one load is thrown.
 */
final class ModelSetLoader {

    static final String AESTHETIC = "aesthetic";
    static final String FAITHFULNESS = "faithfulness";

    private final WinnowConfig config;
    private final OnnxSessions sessions;

    ModelSetLoader(WinnowConfig config, OnnxSessions sessions) {
        this.config = config;
        this.sessions = sessions;
    }

    /** Where each role's configured path leads now. */
    Map<String, ModelFolder> folders() {
        Map<String, ModelFolder> out = new LinkedHashMap<>();
        out.put(ModelSet.PIPELINE, ModelFolder.resolve(Path.of(config.pipeline().path()), "model_index.json"));
        out.put(ModelSet.SAFETY, judge(config.judges().safety().path()));
        scorerPath(config.judges().aesthetic(), "models/judges/aesthetic-scenes").ifPresent(p -> out.put(AESTHETIC, judge(p)));
        scorerPath(config.judges().faithfulness(), "models/judges/scenes-verifier").ifPresent(p -> out.put(FAITHFULNESS, judge(p)));
        previewPath().ifPresent(p -> out.put(ModelSet.PREVIEW, judge(p)));
        return out;
    }

    private static ModelFolder judge(String path) {
        return ModelFolder.resolve(Path.of(path), "judge.json");
    }

    private static Optional<String> scorerPath(WinnowConfig.Judges.Scorer cfg, String defaultPath) {
        return cfg.enabled() ? Optional.of(cfg.path().orElse(defaultPath)) : Optional.empty();
    }

    /** A preview judge of its own, when pruning is on and one is configured (else the faithfulness scorer judges previews). */
    private Optional<String> previewPath() {
        return config.prune().enabled() ? config.prune().judgePath().filter(p -> !p.isBlank()) : Optional.empty();
    }

    /**
     * Loads the set for {@code folders}, reusing {@code current}'s model of every role whose
     * folder kept its identity.
     *
     * @param current the set in service, or null at startup
     */
    ModelSet load(Map<String, ModelFolder> folders, ModelSet current) {
        int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
        AtomicInteger loader = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "winnow-load-" + loader.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        Map<String, CompletableFuture<? extends AutoCloseable>> loads = new LinkedHashMap<>();
        List<AutoCloseable> loaded = new ArrayList<>();
        try {
            for (Map.Entry<String, ModelFolder> e : folders.entrySet()) {
                String role = e.getKey();
                AutoCloseable same = reusable(current, role, e.getValue());
                if (same != null) {
                    loads.put(role, CompletableFuture.completedFuture(same));
                } else if (!role.equals(ModelSet.PIPELINE)) {
                    Path folder = e.getValue().folder();
                    loads.put(role, CompletableFuture.supplyAsync(() -> role.equals(ModelSet.SAFETY)
                            ? SafetyJudge.load(folder, sessions, config.judges().safety().threshold().orElse(null))
                            : ScoreJudge.load(folder, sessions), pool));
                }
            }
            Map<String, AutoCloseable> models = new LinkedHashMap<>();
            DiffusionPipeline pipeline = (DiffusionPipeline) reusable(current, ModelSet.PIPELINE, folders.get(ModelSet.PIPELINE));
            if (pipeline == null) {
                pipeline = DiffusionPipeline.load(folders.get(ModelSet.PIPELINE).folder(), sessions, pool);
                loaded.add(pipeline);
            }
            models.put(ModelSet.PIPELINE, pipeline);
            for (Map.Entry<String, CompletableFuture<? extends AutoCloseable>> e : loads.entrySet()) {
                AutoCloseable m = Futures.join(e.getValue());
                if (current == null || !current.distinctModels().contains(m)) {
                    loaded.add(m);
                }
                models.put(e.getKey(), m);
            }
            return assemble(pipeline, folders, models);
        } catch (RuntimeException | Error e) {
            for (CompletableFuture<? extends AutoCloseable> f : loads.values()) {
                try {
                    AutoCloseable m = f.join();
                    if (!loaded.contains(m) && (current == null || !current.distinctModels().contains(m))) {
                        loaded.add(m);
                    }
                } catch (RuntimeException ignored) {
                    // it did not load
                }
            }
            loaded.forEach(ModelSetLoader::closeQuietly);
            throw e;
        } finally {
            pool.shutdown();
        }
    }

    /** {@code current}'s model of {@code role} when its folder is still the same, else null. */
    private static AutoCloseable reusable(ModelSet current, String role, ModelFolder now) {
        if (current == null || now == null) {
            return null;
        }
        ModelFolder before = current.folders().get(role);
        return before != null && Objects.equals(before.identity(), now.identity()) ? current.models().get(role) : null;
    }

    /** The set's ranking: each scorer with its configured weight; previews judged by their own judge or the faithfulness scorer. */
    private ModelSet assemble(DiffusionPipeline pipeline, Map<String, ModelFolder> folders, Map<String, AutoCloseable> models) {
        List<ScoreJudge> scorers = new ArrayList<>();
        Map<String, Double> weights = new LinkedHashMap<>();
        for (String role : List.of(AESTHETIC, FAITHFULNESS)) {
            if (models.get(role) instanceof ScoreJudge judge) {
                scorers.add(judge);
                weights.put(judge.scoreName(), (role.equals(AESTHETIC) ? config.judges().aesthetic()
                        : config.judges().faithfulness()).weight());
            }
        }
        ScoreJudge previewJudge = models.get(ModelSet.PREVIEW) instanceof ScoreJudge p ? p
                : config.prune().enabled() && models.get(FAITHFULNESS) instanceof ScoreJudge f ? f : null;
        Map<String, ModelFolder> setFolders = new LinkedHashMap<>(folders);
        Map<String, AutoCloseable> setModels = new LinkedHashMap<>(models);
        if (previewJudge != null && !models.containsKey(ModelSet.PREVIEW)) {
            setFolders.put(ModelSet.PREVIEW, folders.get(FAITHFULNESS));
            setModels.put(ModelSet.PREVIEW, previewJudge);
        }
        WinnowConfig.Engine engine = config.engine();
        BestOfN b = new BestOfN(pipeline, (SafetyJudge) models.get(ModelSet.SAFETY), scorers, new RankingPolicy(weights))
                .withDecodeBatchImages(engine.decodeBatchImages());
        return new ModelSet(previewJudge == null ? b : b.withPreviewJudge(previewJudge, config.prune().previewDecoder()),
                setFolders, setModels);
    }

    static void closeQuietly(AutoCloseable m) {
        try {
            m.close();
        } catch (Exception e) {
            java.util.logging.Logger.getLogger(ModelSetLoader.class.getName()).warning("closing a model failed: " + e);
        }
    }
}
