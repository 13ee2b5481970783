package dev.winnow.diffusion;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.winnow.diffusion.scheduler.SchedulerConfig;
import dev.winnow.diffusion.scheduler.Schedulers;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.ModelVersion;
import dev.winnow.modelpack.PackException;
import dev.winnow.modelpack.PackFiles;
import dev.winnow.modelpack.PackVersion;
import dev.winnow.onnx.Futures;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.TensorBuffer;
import dev.winnow.tokenizer.ClipTokenizer;
import dev.winnow.tokenizer.TokenizerLoadException;
import dev.winnow.tokenizer.Tokens;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * A loaded latent-diffusion pack (the Optimum/diffusers ONNX layout): tokenizer, text
 * encoder, UNet, VAE decoder and the noise schedule, checked against each other at load time.
 * Thread-safe: ONNX sessions may run concurrently; per-candidate state lives in
 * {@link DenoisingSlot}s, and each thread that steps slots gets its own {@link UnetWorkspace}
 * (its reusable buffers), closed with the pipeline.
 */
public final class DiffusionPipeline implements AutoCloseable {

    /** The optional preview decoder's graph in a pack folder. */
    public static final String PREVIEW_DECODER = "preview_decoder/model.onnx";

    /** Stable Diffusion's latent scaling factor, used when the VAE config does not state one. */
    public static final double DEFAULT_SCALING_FACTOR = 0.18215;

    /**
     * Resolution levels of diffusers' {@code UNet2DConditionModel} when its config does not list
     * {@code block_out_channels} (its default, (320, 640, 1280, 1280): SD 1.x and 2.x).
     */
    public static final int DEFAULT_UNET_LEVELS = 4;

    private final ModelVersion id;
    /** The normal generator of its candidates ({@code winnow_noise}): part of what a seed gives. */
    private final NoiseGenerator noise;
    private final Path folder;
    private final ClipTokenizer tokenizer;
    private final TextEncoder textEncoder;
    private final UNet unet;
    private final VaeDecoder vae;
    /**
     * The pack's optional tiny decoder for x̂₀ previews ({@code preview_decoder/}: the VAE
     * decoder's interface at a fraction of its cost, for images that are only judged, never
     * returned); null when the pack has none.
     */
    private final VaeDecoder previewDecoder;
    private final ModelVersion previewDecoderId;
    private final SchedulerConfig schedulerConfig;
    private final Schedulers schedulers;
    private final double scalingFactor;
    private final int vaeScale;
    private final int latentMultiple;
    private final int defaultSize;
    private final float[] emptyPromptStates;
    /** emptyPromptStates in fp16, for an fp16 UNet (else null). */
    private final short[] emptyPromptHalf;
    /** Each stepping thread's buffers; a dead thread's are closed when another thread first steps. */
    private final Map<Thread, UnetWorkspace> workspaces = new ConcurrentHashMap<>();

    private DiffusionPipeline(ModelVersion id, Path folder, ClipTokenizer tokenizer, TextEncoder textEncoder, UNet unet,
                              VaeDecoder vae, VaeDecoder previewDecoder, SchedulerConfig schedulerConfig,
                              double scalingFactor, int vaeScale, int latentMultiple, int defaultSize, NoiseGenerator noise)
            throws OrtException {
        this.id = id;
        this.previewDecoder = previewDecoder;
        this.previewDecoderId = previewDecoder == null ? null : new ModelVersion(id.name() + "/preview_decoder",
                PackVersion.contentHash(folder.resolve(PREVIEW_DECODER).getParent()));
        this.noise = noise;
        this.folder = folder;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig;
        this.schedulers = new Schedulers(schedulerConfig);
        this.scalingFactor = scalingFactor;
        this.vaeScale = vaeScale;
        this.latentMultiple = latentMultiple;
        this.defaultSize = defaultSize;
        // The empty prompt's states serve every job without a negative prompt: computed once.
        this.emptyPromptStates = textEncoder.encode(new int[][] {tokenizer.tokenize("").inputIds()});
        this.emptyPromptHalf = half(emptyPromptStates);
    }

    /** Text states in fp16 for an fp16 UNet, converted once per job (null for an fp32 UNet). */
    private short[] half(float[] states) {
        return unet.statesType() == ai.onnxruntime.OnnxJavaType.FLOAT16 ? TensorBuffer.toHalf(states) : null;
    }

    /**
     * Loads and cross-checks a pack folder, one graph after the other.
     *
     * @throws PackException or {@link dev.winnow.onnx.ModelLoadException} naming the file, the input and what was expected
     */
    public static DiffusionPipeline load(Path folder, OnnxSessions sessions) {
        return load(folder, sessions, Runnable::run);
    }

    /**
     * Loads and cross-checks a pack folder, opening its three graphs at once on {@code pool}
     * (the calling thread waits for them: give it a pool whose threads do not wait on this
     * call). Errors come in the same order as when loading one graph after the other: the
     * UNet's first, then the text encoder's, then the VAE decoder's.
     *
     * @throws PackException or {@link dev.winnow.onnx.ModelLoadException} naming the file, the input and what was expected
     */
    public static DiffusionPipeline load(Path folder, OnnxSessions sessions, Executor pool) {
        PackFiles.require(folder, "model_index.json", "the pipeline's index");
        JsonNode index = PackFiles.json(folder.resolve("model_index.json"));
        Path schedulerFile = PackFiles.require(folder, "scheduler/scheduler_config.json", "the noise schedule");
        SchedulerConfig schedulerConfig;
        try {
            schedulerConfig = SchedulerConfig.read(schedulerFile);
        } catch (IOException e) {
            throw new PackException(e.getMessage(), e);
        }
        if (!Files.isRegularFile(folder.resolve("tokenizer/tokenizer.json"))) {
            PackFiles.require(folder, "tokenizer/vocab.json", "the CLIP tokenizer's vocabulary, or tokenizer.json");
            PackFiles.require(folder, "tokenizer/merges.txt", "the CLIP tokenizer's merges");
        }
        JsonNode tokenizerConfig = PackFiles.jsonIfPresent(folder.resolve("tokenizer/tokenizer_config.json"));
        JsonNode specialTokens = PackFiles.jsonIfPresent(folder.resolve("tokenizer/special_tokens_map.json"));
        List<CompletableFuture<ModelSession>> graphs = new ArrayList<>(List.of(
                open(sessions, folder, "unet/model.onnx", "the UNet", pool),
                open(sessions, folder, "text_encoder/model.onnx", "the text encoder", pool),
                open(sessions, folder, "vae_decoder/model.onnx", "the VAE decoder", pool)));
        if (Files.isRegularFile(folder.resolve(PREVIEW_DECODER))) {
            graphs.add(open(sessions, folder, PREVIEW_DECODER, "the preview decoder", pool));
        }
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            UNet unet = UNet.load(track(opened, Futures.join(graphs.get(0))));
            opened.set(opened.size() - 1, unet);
            int maxLength = tokenizerConfig.path("model_max_length").asInt(77);
            if (maxLength <= 0 || maxLength > 4096) {
                maxLength = 77; // transformers writes a huge sentinel when unset
            }
            if (unet.textLength() > 0 && unet.textLength() != maxLength) {
                throw new PackException(folder.resolve("unet/model.onnx") + ": input 'encoder_hidden_states' expects "
                        + unet.textLength() + " tokens, but the tokenizer's model_max_length is " + maxLength);
            }
            ClipTokenizer tokenizer = ClipTokenizer.load(folder.resolve("tokenizer"), maxLength,
                    padToken(tokenizerConfig, specialTokens));
            TextEncoder text = TextEncoder.load(track(opened, Futures.join(graphs.get(1))), maxLength, unet.textWidth());
            opened.set(opened.size() - 1, text);
            VaeDecoder vae = VaeDecoder.load(track(opened, Futures.join(graphs.get(2))), unet.channels());
            opened.set(opened.size() - 1, vae);
            JsonNode vaeConfig = PackFiles.jsonIfPresent(folder.resolve("vae_decoder/config.json"));
            double scaling = vaeConfig.path("scaling_factor").asDouble(DEFAULT_SCALING_FACTOR);
            int vaeScale = vaeScale(vae, unet, vaeConfig);
            VaeDecoder previewDecoder = null;
            if (graphs.size() > 3) {
                previewDecoder = VaeDecoder.load(track(opened, Futures.join(graphs.get(3))), unet.channels());
                opened.set(opened.size() - 1, previewDecoder);
                if (previewDecoder.outputHeight() != vae.outputHeight()) {
                    throw new PackException(folder.resolve(PREVIEW_DECODER) + ": its images are "
                            + previewDecoder.outputHeight() + " pixels high, the VAE decoder's " + vae.outputHeight()
                            + ": a preview decoder must make the VAE's image size from the same latents");
                }
            }
            JsonNode unetConfig = PackFiles.jsonIfPresent(folder.resolve("unet/config.json"));
            int latentDefault = unet.latentHeight() > 0 ? unet.latentHeight() : unetConfig.path("sample_size").asInt(64);
            String name = index.path("winnow_name").asText(folder.toAbsolutePath().normalize().getFileName().toString());
            ModelVersion id = new ModelVersion(name, PackVersion.of(folder, index.path("winnow_version").asText(null)));
            return new DiffusionPipeline(id, folder, tokenizer, text, unet, vae, previewDecoder, schedulerConfig, scaling, vaeScale,
                    latentMultiple(unetConfig), latentDefault * vaeScale, noiseGenerator(folder, index));
        } catch (TokenizerLoadException e) {
            closeAll(opened, graphs);
            throw new PackException(e.getMessage(), e);
        } catch (OrtException e) {
            closeAll(opened, graphs);
            throw new PackException(folder + ": encoding the empty prompt failed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeAll(opened, graphs);
            throw e;
        }
    }

    private static CompletableFuture<ModelSession> open(OnnxSessions sessions, Path folder, String file, String what,
                                                        Executor pool) {
        return CompletableFuture.supplyAsync(() -> sessions.open(PackFiles.require(folder, file, what)), pool);
    }

    /** Closes what was loaded, and every graph that opened but was not taken up (after it finished opening). */
    private static void closeAll(List<AutoCloseable> opened, List<CompletableFuture<ModelSession>> graphs) {
        for (CompletableFuture<ModelSession> g : graphs) {
            try {
                ModelSession s = g.join();
                if (opened.stream().noneMatch(o -> o == s || (o instanceof UNet u && u.model() == s)
                        || (o instanceof TextEncoder t && t.model() == s) || (o instanceof VaeDecoder v && v.model() == s))) {
                    s.close();
                }
            } catch (RuntimeException | Error e) {
                // it did not open: nothing to close
            }
        }
        closeAll(opened);
    }

    private static ModelSession track(List<AutoCloseable> opened, ModelSession s) {
        opened.add(s);
        return s;
    }

    private static void closeAll(List<AutoCloseable> opened) {
        for (AutoCloseable c : opened) {
            try {
                c.close();
            } catch (Exception ignored) {
                // already failing; the first error is the one to report
            }
        }
    }

    private static String padToken(JsonNode tokenizerConfig, JsonNode specialTokens) {
        JsonNode pad = specialTokens.has("pad_token") ? specialTokens.get("pad_token") : tokenizerConfig.get("pad_token");
        if (pad == null || pad.isNull()) {
            return ClipTokenizer.END_TOKEN;
        }
        return pad.isObject() ? pad.path("content").asText(ClipTokenizer.END_TOKEN) : pad.asText();
    }

    /** The generator the pack names in {@code winnow_noise} (none: the first one, {@link NoiseGenerator#BOX_MULLER}). */
    private static NoiseGenerator noiseGenerator(Path folder, JsonNode index) {
        JsonNode name = index.path("winnow_noise");
        try {
            return NoiseGenerator.named(name.isMissingNode() || name.isNull() ? null : name.asText());
        } catch (IllegalArgumentException e) {
            throw new PackException(folder.resolve("model_index.json") + ": winnow_noise: " + e.getMessage());
        }
    }

    /** The normal generator its candidates' seeds drive ({@code winnow_noise}). */
    public NoiseGenerator noise() {
        return noise;
    }

    /** Pixels per latent cell: from fixed shapes when the graphs have them, else from the VAE's blocks (SD: 8). */
    private static int vaeScale(VaeDecoder vae, UNet unet, JsonNode vaeConfig) {
        if (vae.outputHeight() > 0 && unet.latentHeight() > 0) {
            return vae.outputHeight() / unet.latentHeight();
        }
        JsonNode blocks = vaeConfig.path("block_out_channels");
        return blocks.isArray() && blocks.size() > 0 ? 1 << (blocks.size() - 1) : 8;
    }

    /**
     * The latent side must be a multiple of this: a UNet with L resolution levels halves the
     * latent L - 1 times on the way down and concatenates the skips on the way up, so a side
     * that does not divide evenly fails inside the graph (SD: 4 levels, multiples of 8 latent
     * cells, 64 pixels).
     */
    private static int latentMultiple(JsonNode unetConfig) {
        JsonNode blocks = unetConfig.path("block_out_channels");
        int levels = blocks.isArray() && blocks.size() > 0 ? blocks.size() : DEFAULT_UNET_LEVELS;
        return 1 << (levels - 1);
    }

    public String name() {
        return id.name();
    }

    /** The pack's version: {@code winnow_version} in {@code model_index.json}, else a hash of its files. */
    public String version() {
        return id.version();
    }

    /** Name and version together. */
    public ModelVersion id() {
        return id;
    }

    public Path folder() {
        return folder;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    public UNet unet() {
        return unet;
    }

    /** Image side in pixels that a request gets when it names none (unet sample_size × VAE scale). */
    public int defaultSize() {
        return defaultSize;
    }

    /** Pixels per latent cell (8 for Stable Diffusion). */
    public int vaeScale() {
        return vaeScale;
    }

    /** Whether the UNet only takes one latent size (then width and height must be {@link #defaultSize()}). */
    public boolean fixedSize() {
        return unet.latentHeight() > 0;
    }

    /** The image width the UNet is fixed to, or -1 when it takes any. */
    public int fixedWidth() {
        return unet.latentWidth() > 0 ? unet.latentWidth() * vaeScale : -1;
    }

    /** The image height the UNet is fixed to, or -1 when it takes any. */
    public int fixedHeight() {
        return unet.latentHeight() > 0 ? unet.latentHeight() * vaeScale : -1;
    }

    /**
     * Image sides must be multiples of this many pixels: the VAE scale times the latent multiple
     * that the UNet's resolution levels need ({@code unet/config.json} {@code block_out_channels};
     * SD: 8 × 8 = 64).
     */
    public int sizeStep() {
        return vaeScale * latentMultiple;
    }

    public double scalingFactor() {
        return scalingFactor;
    }

    /** Tokenizes and encodes a prompt and its negative prompt (empty → the cached empty-prompt states). */
    public PromptEmbedding encodePrompt(String prompt, String negativePrompt) throws OrtException {
        Tokens tokens = tokenizer.tokenize(prompt);
        boolean hasNegative = negativePrompt != null && !negativePrompt.isBlank();
        int[][] rows = hasNegative
                ? new int[][] {tokens.inputIds(), tokenizer.tokenize(negativePrompt).inputIds()}
                : new int[][] {tokens.inputIds()};
        float[] states = textEncoder.encode(rows);
        int perRow = tokenizer.maxLength() * unet.textWidth();
        float[] cond = Arrays.copyOfRange(states, 0, perRow);
        float[] uncond = hasNegative ? Arrays.copyOfRange(states, perRow, 2 * perRow) : emptyPromptStates;
        return new PromptEmbedding(cond, uncond, tokens.tokenCount(), tokens.truncated(), half(cond),
                hasNegative ? half(uncond) : emptyPromptHalf);
    }

    /** A new slot for one candidate. */
    public DenoisingSlot newSlot(long seed, PromptEmbedding prompt, String scheduler, int steps, double guidanceScale,
                                 int width, int height) {
        return new DenoisingSlot(seed, noise, schedulers.create(scheduler, steps), prompt, guidanceScale,
                unet.channels(), height / vaeScale, width / vaeScale);
    }

    /**
     * One denoising step for all given slots (all the same latent shape, none done): the UNet
     * calls that {@link UnetCallPlan} plans — one, or one per timestep for a UNet that takes a
     * single timestep — then one scheduler step for each slot with its own rows of the output.
     * A step that fails advances no slot. Reuses the calling thread's buffers: while the batch's
     * composition holds, only the latents and timesteps are written.
     *
     * @return the calls made and the rows in each
     */
    public StepCalls step(List<DenoisingSlot> slots) throws OrtException {
        if (slots.isEmpty()) {
            return new StepCalls();
        }
        DenoisingSlot first = slots.get(0);
        for (DenoisingSlot s : slots) {
            if (s.latentHeight() != first.latentHeight() || s.latentWidth() != first.latentWidth() || s.isDone()) {
                throw new IllegalArgumentException("slots in one UNet call must share a latent shape and not be done");
            }
        }
        List<List<DenoisingSlot>> calls = UnetCallPlan.calls(slots, unet.acceptsPerRowTimesteps());
        UnetWorkspace workspace = workspace();
        int[] rows = new int[calls.size()];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = workspace.call(calls.get(i));
        }
        for (DenoisingSlot s : slots) {
            s.advance(); // only once every call has succeeded: a failed step advances no slot
        }
        return new StepCalls(rows);
    }

    /** The calling thread's UNet buffers. */
    UnetWorkspace workspace() {
        Thread me = Thread.currentThread();
        UnetWorkspace mine = workspaces.get(me);
        if (mine == null) {
            for (Map.Entry<Thread, UnetWorkspace> e : workspaces.entrySet()) {
                if (!e.getKey().isAlive() && workspaces.remove(e.getKey(), e.getValue())) {
                    e.getValue().close(); // its thread is gone: nothing can be using it
                }
            }
            mine = new UnetWorkspace(unet, tokenizer.maxLength());
            workspaces.put(me, mine);
        }
        return mine;
    }

    /**
     * One plain UNet call: a single zero row at the default size with the empty prompt. It
     * tells a device that still works from one that fails everything.
     *
     * @throws OrtException when the UNet fails even this call
     */
    public void probeUnet() throws OrtException {
        int h = defaultSize / vaeScale;
        int w = fixedWidth() > 0 ? unet.latentWidth() : h;
        unet.predict(new float[unet.channels() * h * w], 1, h, w, new double[] {schedulers.schedule("ddim").trainSteps() - 1},
                emptyPromptStates, tokenizer.maxLength());
    }

    /** Decodes finished slots' latents to images, at most {@code maxImages} per VAE call. */
    public List<RgbImage> decode(List<DenoisingSlot> slots, int maxImages) throws OrtException {
        if (slots.isEmpty()) {
            return List.of();
        }
        return decodeLatents(slots.stream().map(DenoisingSlot::latents).toList(), slots.get(0).latentHeight(),
                slots.get(0).latentWidth(), maxImages);
    }

    /**
     * Decodes latents of one shape ({@code latentHeight}×{@code latentWidth}, not yet divided by the
     * scaling factor): finished candidates, or the x̂₀ previews that pruning judges. At most
     * {@code maxImages} per VAE call.
     */
    public List<RgbImage> decodeLatents(List<float[]> rows, int latentHeight, int latentWidth, int maxImages)
            throws OrtException {
        return decodeWith(vae, rows, latentHeight, latentWidth, maxImages);
    }

    /**
     * Decodes x̂₀ previews that are only judged (pruning), with the pack's preview decoder when it
     * has one, else as {@link #decodeLatents}. Never for an image that leaves the service.
     */
    public List<RgbImage> decodePreviews(List<float[]> rows, int latentHeight, int latentWidth, int maxImages)
            throws OrtException {
        return decodeWith(previewDecoder != null ? previewDecoder : vae, rows, latentHeight, latentWidth, maxImages);
    }

    /** Whether the pack has a preview decoder ({@code preview_decoder/}). */
    public boolean hasPreviewDecoder() {
        return previewDecoder != null;
    }

    /** The preview decoder's name ({@code <pack>/preview_decoder}) and version (its files' hash); null when none. */
    public ModelVersion previewDecoderId() {
        return previewDecoderId;
    }

    private List<RgbImage> decodeWith(VaeDecoder decoder, List<float[]> rows, int latentHeight, int latentWidth,
                                      int maxImages) throws OrtException {
        List<RgbImage> images = new ArrayList<>(rows.size());
        int perRow = unet.channels() * latentHeight * latentWidth;
        float inv = (float) (1.0 / scalingFactor);
        for (int from = 0; from < rows.size(); from += maxImages) {
            List<float[]> chunk = rows.subList(from, Math.min(rows.size(), from + maxImages));
            float[] latents = new float[chunk.size() * perRow];
            for (int i = 0; i < chunk.size(); i++) {
                float[] x = chunk.get(i);
                for (int k = 0; k < perRow; k++) {
                    latents[i * perRow + k] = x[k] * inv;
                }
            }
            images.addAll(decoder.decodeImages(latents, chunk.size(), latentHeight, latentWidth, latentWidth * vaeScale,
                    latentHeight * vaeScale));
        }
        return images;
    }

    @Override
    public void close() {
        workspaces.values().forEach(UnetWorkspace::close);
        workspaces.clear();
        textEncoder.close();
        unet.close();
        vae.close();
        if (previewDecoder != null) {
            previewDecoder.close();
        }
    }
}
