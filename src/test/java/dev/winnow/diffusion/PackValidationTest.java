package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.modelpack.PackException;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.DeviceUnavailableException;
import dev.winnow.onnx.ModelLoadException;
import dev.winnow.onnx.OnnxSessions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pack that does not fit stops loading with a message naming the file, the input and what was expected. */
class PackValidationTest {

    static final Path TINY = Path.of("models", "shapes-scenes");
    static final OnnxSessions CPU = OnnxSessions.create(DeviceChoice.CPU, 1, 0);

    @TempDir
    Path tmp;

    Path copyOfTiny() throws IOException {
        Path dst = tmp.resolve("pack");
        try (Stream<Path> files = Files.walk(TINY)) {
            for (Path p : files.toList()) {
                Path target = dst.resolve(TINY.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return dst;
    }

    @Test
    void aMissingUnetNamesTheFileAndTheLayout() throws IOException {
        Path pack = copyOfTiny();
        Files.delete(pack.resolve("unet/model.onnx"));
        PackException e = assertThrows(PackException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("unet/model.onnx") && e.getMessage().contains("optimum-cli"), e.getMessage());
    }

    @Test
    void theWrongGraphInAFolderNamesTheInputItExpected() throws IOException {
        Path pack = copyOfTiny();
        Files.copy(pack.resolve("vae_decoder/model.onnx"), pack.resolve("text_encoder/model.onnx"),
                StandardCopyOption.REPLACE_EXISTING);
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("text_encoder/model.onnx") && e.getMessage().contains("'input_ids'"), e.getMessage());
    }

    @Test
    void aPreviewDecoderThatIsNotADecoderNamesItsFile() throws IOException {
        Path pack = copyOfTiny();
        Files.copy(pack.resolve("unet/model.onnx"), pack.resolve(DiffusionPipeline.PREVIEW_DECODER),
                StandardCopyOption.REPLACE_EXISTING);
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("preview_decoder/model.onnx") && e.getMessage().contains("'latent_sample'"),
                e.getMessage());
    }

    @Test
    void aPackWithoutAPreviewDecoderDecodesItsPreviewsWithTheVae() throws Exception {
        Path pack = copyOfTiny();
        try (Stream<Path> files = Files.walk(pack.resolve("preview_decoder"))) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        try (DiffusionPipeline p = DiffusionPipeline.load(pack, CPU)) {
            assertTrue(!p.hasPreviewDecoder() && p.previewDecoderId() == null);
            float[] latent = new float[4 * 16 * 16];
            new SeededGaussian(5).fill(latent);
            org.junit.jupiter.api.Assertions.assertArrayEquals(p.decodeLatents(java.util.List.of(latent), 16, 16, 4).get(0).rgb(),
                    p.decodePreviews(java.util.List.of(latent), 16, 16, 4).get(0).rgb());
        }
    }

    @Test
    void aTokenizerWindowThatDisagreesWithTheUnetIsRefused() throws IOException {
        Path pack = copyOfTiny();
        Files.writeString(pack.resolve("tokenizer/tokenizer_config.json"), "{\"model_max_length\": 64}");
        PackException e = assertThrows(PackException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("encoder_hidden_states") && e.getMessage().contains("64"), e.getMessage());
    }

    @Test
    void anUnknownBetaScheduleNamesTheConfigFile() throws IOException {
        Path pack = copyOfTiny();
        Files.writeString(pack.resolve("scheduler/scheduler_config.json"), "{\"beta_schedule\": \"sigmoid\"}");
        PackException e = assertThrows(PackException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("scheduler_config.json") && e.getMessage().contains("sigmoid"), e.getMessage());
    }

    @Test
    void aSchedulerKeyWinnowDoesNotImplementStopsLoadingNamingTheFileAndTheKey() throws IOException {
        Path pack = copyOfTiny();
        Path config = pack.resolve("scheduler/scheduler_config.json");
        Files.writeString(config, Files.readString(config).replace("\"clip_sample\": false",
                "\"clip_sample\": false, \"rescale_betas_zero_snr\": true"));
        PackException e = assertThrows(PackException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("scheduler_config.json") && e.getMessage().contains("rescale_betas_zero_snr"),
                e.getMessage());
    }

    @Test
    void anSdxlExportIsRefusedSayingSdxlIsNotSupportedYet() {
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> DiffusionPipeline.load(Path.of("src/test/fixture-packs/sdxl-unsupported-fixture"), CPU));
        assertTrue(e.getMessage().contains("unet/model.onnx") && e.getMessage().contains("SDXL is not supported yet"),
                e.getMessage());
    }

    static boolean hasCuda() {
        return ai.onnxruntime.OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA);
    }

    @Test
    void cudaWithoutTheCudaProviderFailsFastSayingWhatIsMissing() {
        org.junit.jupiter.api.Assumptions.assumeFalse(hasCuda(), "this runtime has CUDA");
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> OnnxSessions.create(DeviceChoice.CUDA, 1, 0));
        assertTrue(e.getMessage().contains("CUDA") && e.getMessage().contains("winnow.device=auto"), e.getMessage());
    }

    @Test
    void autoFallsBackToCpuHere() {
        org.junit.jupiter.api.Assumptions.assumeFalse(hasCuda(), "this runtime has CUDA");
        assertTrue(OnnxSessions.create(DeviceChoice.AUTO, 1, 0).device().equals("cpu"));
    }

    @Test
    void aPackNamingAnUnknownNoiseGeneratorStopsLoadingNamingTheKeyAndTheKnownOnes() throws IOException {
        Path pack = copyOfTiny();
        Path index = pack.resolve("model_index.json");
        Files.writeString(index, Files.readString(index).replace("\"winnow_version\"", "\"winnow_noise\": \"sobol\", \"winnow_version\""));
        PackException e = assertThrows(PackException.class, () -> DiffusionPipeline.load(pack, CPU));
        assertTrue(e.getMessage().contains("winnow_noise") && e.getMessage().contains("sobol")
                && e.getMessage().contains("box-muller, ziggurat"), e.getMessage());
    }

    @Test
    void aPackThatNamesNoNoiseGeneratorKeepsBoxMullerAndOneThatNamesTheVectorGeneratorGetsIt() throws Exception {
        try (DiffusionPipeline embedded = DiffusionPipeline.load(TINY, CPU);
             DiffusionPipeline fixture = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd15-optimum-fixture"), CPU)) {
            assertEquals(NoiseGenerator.BOX_MULLER, embedded.noise());
            assertEquals(NoiseGenerator.VECTOR_BOX_MULLER, fixture.noise());
        }
    }
}
