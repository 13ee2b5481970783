package dev.winnow.modelpack;

import dev.winnow.testing.EmbeddedPack;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pack's version: what it declares, else a hash of what the service reads from it. */
class PackVersionTest {

    static Path pack(Path dir) throws Exception {
        Files.createDirectories(dir.resolve("unet"));
        Files.write(dir.resolve("unet/model.onnx"), new byte[] {1, 2, 3});
        Files.writeString(dir.resolve("model_index.json"), "{}");
        Files.writeString(dir.resolve("README.md"), "# a pack");
        return dir;
    }

    @Test
    void aDeclaredVersionIsTheVersion(@TempDir Path dir) throws Exception {
        assertEquals("r1-dpo", PackVersion.of(pack(dir), " r1-dpo "));
    }

    @Test
    void withoutOneTheVersionIsAStableHashOfTheFilesTheServiceReads(@TempDir Path dir) throws Exception {
        String v = PackVersion.of(pack(dir), null);
        assertTrue(v.matches("sha256-[0-9a-f]{12}"), v);
        assertEquals(v, PackVersion.of(dir, ""), "computed the same way every time");
        Files.writeString(dir.resolve("README.md"), "# the same weights, better documented");
        Files.writeString(dir.resolve(".hidden"), "editor state");
        assertEquals(v, PackVersion.of(dir, null), "documentation and hidden files are not the model");
        Files.write(dir.resolve("unet/model.onnx"), new byte[] {1, 2, 4});
        assertNotEquals(v, PackVersion.of(dir, null), "one changed weight is a new version");
    }

    @Test
    void movingAFileIsANewVersion(@TempDir Path dir) throws Exception {
        String v = PackVersion.of(pack(dir), null);
        Files.createDirectories(dir.resolve("vae_decoder"));
        Files.move(dir.resolve("unet/model.onnx"), dir.resolve("vae_decoder/model.onnx"));
        assertNotEquals(v, PackVersion.of(dir, null));
    }

    @Test
    void theEmbeddedPacksAndJudgesDeclareTheirVersions() {
        for (String judge : new String[] {"nsfw-mobilenet-v2", "aesthetic-scenes", "aesthetic-scenes-people", "scenes-verifier",
                "scenes-verifier-preview"}) {
            JudgeManifest m = JudgeManifests.read(Path.of("models/judges", judge));
            assertTrue(m.version() != null && !m.version().startsWith("sha256-"), judge + " declares a version: " + m.version());
        }
        assertTrue(!EmbeddedPack.VERSION.isBlank(), "the embedded pipeline declares its version");
    }
}
