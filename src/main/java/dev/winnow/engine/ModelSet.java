package dev.winnow.engine;

import dev.winnow.modelpack.ModelFolder;
import dev.winnow.modelpack.ModelVersion;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The models that serve jobs together: one pipeline and its judges (the {@link BestOfN} that
 * ranks with them), with the folders they were loaded from. A live swap builds a new set beside
 * the one in service, reusing every model whose folder did not change; a job runs start to end
 * on the set it was admitted under. Immutable.
 *
 * @param folders by role ({@link #PIPELINE}, {@link #SAFETY}, each score name, {@link #PREVIEW})
 * @param models  the loaded model of each role; one model may hold two roles (the faithfulness
 *                scorer judges previews when no preview judge is configured)
 */
public record ModelSet(BestOfN bestOfN, Map<String, ModelFolder> folders, Map<String, AutoCloseable> models) {

    public static final String PIPELINE = "pipeline";
    public static final String SAFETY = "safety";
    public static final String PREVIEW = "preview";

    public ModelSet {
        folders = Collections.unmodifiableMap(new LinkedHashMap<>(folders));
        models = Collections.unmodifiableMap(new LinkedHashMap<>(models));
    }

    /** The distinct models of the set (a model in two roles once). */
    public Set<AutoCloseable> distinctModels() {
        Set<AutoCloseable> out = Collections.newSetFromMap(new IdentityHashMap<>());
        out.addAll(models.values());
        return out;
    }

    /** What the set's distinct folders hold on disk: a measure of what it takes in memory. */
    public long bytes() {
        Map<String, Long> byFolder = new LinkedHashMap<>();
        folders.values().forEach(f -> byFolder.put(f.folder().toString(), f.bytes()));
        return byFolder.values().stream().mapToLong(Long::longValue).sum();
    }

    /** The pipeline's name and version. */
    public ModelVersion pipeline() {
        return bestOfN.pipeline().id();
    }

    /** Every model's name and version by role, the pipeline first. */
    public Map<String, ModelVersion> versions() {
        Map<String, ModelVersion> out = new LinkedHashMap<>();
        out.put(PIPELINE, pipeline());
        out.putAll(bestOfN.judges(true));
        return out;
    }
}
