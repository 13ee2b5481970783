package dev.winnow.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime's optimised graphs kept on disk: a restart loads the kept graph, which computes
 * exactly what the optimised model does, and a cache that is absent, stale, damaged or cannot
 * be written never stops a model from opening.
 */
class GraphCacheTest {

    static final Path AESTHETIC = Path.of("models/judges/aesthetic-scenes/model.onnx");
    static final Path UNET = Path.of("models/shapes-scenes/unet/model.onnx");

    @TempDir
    Path tmp;

    OnnxSessions sessions(Path cache) {
        return OnnxSessions.create(DeviceChoice.CPU, 2, 0).withGraphCache(cache);
    }

    Path model(Path source) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("pack"));
        return Files.copy(source, dir.resolve("model.onnx"), StandardCopyOption.REPLACE_EXISTING);
    }

    /** The aesthetic scorer's output on a fixed image. */
    static float[] score(ModelSession m) throws Exception {
        float[] pixels = new float[3 * 64 * 64];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) Math.sin(i * 0.01);
        }
        try (OnnxTensor x = OnnxTensor.createTensor(m.environment(), java.nio.FloatBuffer.wrap(pixels), new long[] {1, 3, 64, 64});
             OrtSession.Result r = m.run(Map.of("pixel_values", x))) {
            return Tensors.readFloats(r, "score");
        }
    }

    static List<Path> entries(Path cache) throws IOException {
        try (Stream<Path> s = Files.list(cache)) {
            return s.filter(p -> p.getFileName().toString().endsWith(GraphCache.ENTRY)).toList();
        }
    }

    @Test
    void aRestartLoadsTheKeptGraphAndItComputesExactlyWhatTheOptimisedModelDoes() throws Exception {
        Path cache = tmp.resolve("absent/cache");
        Path model = model(AESTHETIC);
        float[] first;
        try (ModelSession m = sessions(cache).open(model)) {
            assertEquals("optimised, cached", m.origin());
            first = score(m);
        }
        assertEquals(1, entries(cache).size(), "one entry written into the folder, which was made");
        try (ModelSession m = sessions(cache).open(model)) {
            assertEquals("from the graph cache", m.origin());
            assertArrayEquals(first, score(m), 0f, "the kept graph computes the same bits");
        }
        try (ModelSession plain = OnnxSessions.create(DeviceChoice.CPU, 2, 0).open(model)) {
            assertArrayEquals(first, score(plain), 0f, "and so does the model opened without any cache");
        }
    }

    @Test
    void aChangedModelIsOptimisedAgainAndItsOldEntryRemoved() throws Exception {
        Path cache = tmp.resolve("cache");
        Path model = model(AESTHETIC);
        sessions(cache).open(model).close();
        List<Path> before = entries(cache);
        Files.copy(UNET, model, StandardCopyOption.REPLACE_EXISTING); // another model at the same path
        try (ModelSession m = sessions(cache).open(model)) {
            assertEquals("optimised, cached", m.origin(), "the stale entry is not found");
            assertTrue(m.inputs().containsKey("timestep"), "the new model is the one opened");
        }
        List<Path> after = entries(cache);
        assertEquals(1, after.size());
        assertFalse(after.contains(before.get(0)), "the old model's entry is gone");
    }

    @Test
    void aDamagedEntryIsDeletedAndTheModelOptimisedAgain() throws Exception {
        Path cache = tmp.resolve("cache");
        Path model = model(AESTHETIC);
        float[] expected;
        try (ModelSession m = sessions(cache).open(model)) {
            expected = score(m);
        }
        Path entry = entries(cache).get(0);
        byte[] bytes = Files.readAllBytes(entry);
        bytes[bytes.length / 2] ^= 0x5a; // a flipped byte, as a bad disk or a torn copy leaves it
        Files.write(entry, bytes);
        try (ModelSession m = sessions(cache).open(model)) {
            assertEquals("optimised, cached", m.origin());
            assertArrayEquals(expected, score(m), 0f);
        }
        try (ModelSession m = sessions(cache).open(model)) {
            assertEquals("from the graph cache", m.origin(), "written anew and intact");
        }
    }

    @Test
    void anEntryThatOnnxRuntimeCannotLoadIsDeletedAndTheModelOptimisedAgain() throws Exception {
        Path cache = tmp.resolve("cache");
        Path model = model(AESTHETIC);
        sessions(cache).open(model).close();
        Path entry = entries(cache).get(0);
        Files.write(entry, "not an onnx graph".getBytes());
        Files.writeString(GraphCache.digestOf(entry), GraphCache.checksum(entry)); // intact by its checksum
        try (ModelSession m = sessions(cache).open(model)) {
            assertEquals("optimised, cached", m.origin());
            assertEquals(1, score(m).length);
        }
        assertTrue(Files.size(entries(cache).get(0)) > 1000, "a real graph replaced it");
    }

    @Test
    void aCacheFolderThatCannotBeWrittenTurnsTheCacheOffAndTheModelStillOpens() throws Exception {
        Path blocked = Files.writeString(tmp.resolve("a-file"), "not a folder");
        OnnxSessions s = sessions(blocked.resolve("cache"));
        try (ModelSession m = s.open(model(AESTHETIC))) {
            assertEquals("optimised", m.origin());
            assertEquals(1, score(m).length);
        }
        assertFalse(s.graphCache().enabled());
    }

    @Test
    void theKeyFollowsTheModelsBytesAndTheEnvironment() throws Exception {
        Path model = model(AESTHETIC);
        GraphCache a = new GraphCache(tmp, "onnxruntime 1.29.0|ALL_OPT|CPUExecutionProvider");
        GraphCache b = new GraphCache(tmp, "onnxruntime 1.30.0|ALL_OPT|CPUExecutionProvider");
        assertEquals(a.key(model), a.key(model));
        assertFalse(a.key(model).equals(b.key(model)), "another runtime version, another key");
        String before = a.key(model);
        Files.write(model, ByteBuffer.allocate(8).putLong(42).array(), java.nio.file.StandardOpenOption.APPEND);
        assertFalse(before.equals(a.key(model)), "other bytes, another key");
    }

    @Test
    void aModelWithItsWeightsInAnExternalFileIsNotCached() throws Exception {
        Path model = model(AESTHETIC);
        assertTrue(GraphCache.cacheable(model));
        Files.writeString(model.resolveSibling("model.onnx_data"), "weights");
        assertFalse(GraphCache.cacheable(model));
    }
}
