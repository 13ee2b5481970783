"""Export real checkpoints into Winnow packs (the Hugging Face stack; docs/REAL-MODELS.md).

    pip install optimum-onnx diffusers "transformers<4.58" torch onnx onnxruntime
    python models/tools/export_sd.py pipeline stable-diffusion-v1-5/stable-diffusion-v1-5 packs/sd15 --fp16
    python models/tools/export_sd.py pipeline stabilityai/sd-turbo packs/sd-turbo --fp16
    python models/tools/export_sd.py pipeline /path/to/a/diffusers/folder packs/mine
    python models/tools/export_sd.py compvis-safety packs/judges/compvis-safety
    python models/tools/export_sd.py falconsai-nsfw packs/judges/falconsai-nsfw
    python models/tools/export_sd.py laion-aesthetic packs/judges/laion-aesthetic

then point Winnow at them (see README, "Run it on real models"):

    WINNOW_PIPELINE_PATH=packs/sd15 WINNOW_JUDGES_SAFETY_PATH=packs/judges/compvis-safety \\
    WINNOW_JUDGES_AESTHETIC_PATH=packs/judges/laion-aesthetic WINNOW_JUDGES_FAITHFULNESS_ENABLED=false \\
    java -jar target/quarkus-app/quarkus-run.jar

Each judge folder gets model.onnx and a judge.json (schema 1, see models/README.md) with
exactly the interface that the fixture judges in src/test/fixture-judges/ pin in tests.

With no download, a judge can be built from its published configuration with seeded random
weights (--random-weights; judge.json's name and description say so) or the same classes at tiny
widths (--tiny); either then takes the same path as the real checkpoint. --golden also writes
golden.json (judge_golden.py: the Hugging Face preprocessing + torch on fixed test images). The
test fixtures src/test/fixture-judges/*-export-fixture are made so:

    python models/tools/export_sd.py compvis-safety src/test/fixture-judges/compvis-safety-export-fixture --tiny --golden
    python models/tools/export_sd.py falconsai-nsfw src/test/fixture-judges/falconsai-nsfw-export-fixture --tiny --golden
    python models/tools/export_sd.py laion-aesthetic src/test/fixture-judges/laion-aesthetic-export-fixture --tiny --golden
--fp16 exports half-precision graphs (use it for GPUs; exporting fp16 needs a CUDA device).
"""
import argparse
import json
import os

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
LAION_MLP_URL = ("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                 "sac+logos+ava1-l14-linearMSE.pth")


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def export_pipeline(model_id, out, fp16, batch_timestep=True):
    """Optimum's exporter (what `optimum-cli export onnx --task text-to-image` runs) writes the
    layout Winnow reads. Optimum 1.24+ gives the UNet a rank-0 timestep; batch_timestep.py then
    gives it one per row, so that jobs at different steps share UNet calls (README)."""
    from optimum.exporters.onnx import main_export
    main_export(model_id, output=out, task="text-to-image", fp16=fp16, device="cuda" if fp16 else "cpu")
    index_path = os.path.join(out, "model_index.json")
    with open(index_path) as f:
        index = json.load(f)
    index["winnow_name"] = os.path.basename(os.path.normpath(model_id)) + ("-fp16" if fp16 else "")
    index.pop("_name_or_path", None)          # a local folder's path says nothing where the pack goes
    # The vector normal generator (issue 30): Box-Muller on 16 lanes, 0.4 ns a normal where the JVM
    # has the Vector API (the ziggurat: 2.5, the first generator: 28), and part of what a seed gives,
    # so a pack names it once and keeps it (docs/DETERMINISM.md)
    index["winnow_noise"] = "vector-box-muller"
    write_json(index_path, index)
    # Optimum writes external data (unet/model.onnx_data) readable by its owner only; the service
    # often runs as another user (the container's uid 185)
    for folder, _, files in os.walk(out):
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode | 0o444)
    if batch_timestep:
        import batch_timestep as bt
        if bt.has_scalar_timestep(os.path.join(out, "unet", "model.onnx")):
            bt.batch_timestep(out, out, tolerance=1e-2 if fp16 else 1e-4)


def export_torch(module, args, path, input_names, output_names, dynamic_axes):
    import torch
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)


# --random-weights builds each judge from its published configuration with seeded random init
# instead of downloading it; --tiny keeps the classes and divides the widths. Both then take the
# same path as a real checkpoint (the Onnx wrappers, export_torch, judge.json), so that the
# adapters can be proved against the real graphs (src/test/fixture-judges/*-export-fixture).
CLIP_L14_VISION = {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24,
                   "patch_size": 14, "image_size": 224, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}
CLIP_L14_PROJECTION = 768
TINY_WIDTHS = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2}
TINY_PROJECTION = 32
LAION_MLP = [768, 1024, 128, 64, 16, 1]            # sac+logos+ava1-l14-linearMSE.pth
TINY_LAION_MLP = [TINY_PROJECTION, 64, 32, 16, 8, 1]
# The random CompVis checker's one live concept: the embedding of this flat colour, flagged at
# cosine 0.95 and above (the other 16 concepts and the 3 special-care ones keep the class's init,
# all-ones embeddings at threshold 1, which never fire).
RANDOM_CONCEPT_RGB = (220, 30, 40)
RANDOM_CONCEPT_THRESHOLD = 0.95


class Weights:
    """Where a judge's weights come from: the checkpoint (default) or seeded random init."""

    def __init__(self, random=False, tiny=False, seed=0):
        self.random, self.tiny, self.seed = random or tiny, tiny, seed

    def seeded(self):
        import torch
        torch.manual_seed(self.seed)

    def vision(self, base):
        return {**base, **TINY_WIDTHS} if self.tiny else dict(base)

    def clip_l14(self):
        """CLIP ViT-L/14's vision tower and projection width (both judges that use CLIP share them)."""
        return self.vision(CLIP_L14_VISION), TINY_PROJECTION if self.tiny else CLIP_L14_PROJECTION

    def name(self, name):
        return name + ("-tiny-random" if self.tiny else "-random" if self.random else "")

    def description(self, text):
        if not self.random:
            return text
        return (f"{text} -- ({'tiny widths, ' if self.tiny else ''}random weights, seed {self.seed}): "
                "the architecture only, NOT the real checkpoint; its verdicts mean nothing.")


def laion_mlp(widths):
    """The predictor's MLP with its state-dict layout (layers.0/2/4/6/7 in the .pth)."""
    import torch
    a, b, c, d, e, f = widths
    return torch.nn.Sequential(
        torch.nn.Linear(a, b), torch.nn.Dropout(0.2), torch.nn.Linear(b, c), torch.nn.Dropout(0.2),
        torch.nn.Linear(c, d), torch.nn.Dropout(0.1), torch.nn.Linear(d, e), torch.nn.Linear(e, f))


def place_random_concept(checker):
    """Concept 0 := the image embedding of a flat RANDOM_CONCEPT_RGB image (its CLIP input is that
    colour normalised, whatever the resize), threshold RANDOM_CONCEPT_THRESHOLD: so the random
    checker flags that colour and what its random tower sees as close to it, and nothing else."""
    import torch
    rgb = torch.tensor(RANDOM_CONCEPT_RGB, dtype=torch.float32) / 255
    pixel = (rgb - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    clip_input = pixel.view(1, 3, 1, 1).expand(1, 3, 224, 224).contiguous()
    with torch.no_grad():
        embed = checker.visual_projection(checker.vision_model(clip_input)[1])[0]
        checker.concept_embeds[0] = embed / embed.norm()
        checker.concept_embeds_weights[0] = RANDOM_CONCEPT_THRESHOLD


def export_compvis_safety(out, weights=None):
    """CompVis' safety checker: CLIP ViT-L/14 features vs 17 concept embeddings (+3 special care)."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    weights = weights or Weights()
    if weights.random:
        from transformers import CLIPConfig
        weights.seeded()
        vision, projection = weights.clip_l14()
        checker = StableDiffusionSafetyChecker(CLIPConfig(vision_config=vision, projection_dim=projection)).eval()
        place_random_concept(checker)
        concept = (f" Concept 0 is the embedding of flat RGB {RANDOM_CONCEPT_RGB} at threshold "
                   f"{RANDOM_CONCEPT_THRESHOLD}; the others never fire.")
    else:
        checker = StableDiffusionSafetyChecker.from_pretrained("CompVis/stable-diffusion-safety-checker").eval()
        concept = ""

    class Onnx(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, clip_input, images):
            # forward_onnx blanks flagged images with `images[has_nsfw] = 0`, which the TorchScript
            # exporter writes as Where(has_nsfw [B], 0, images [B,H,W,3]): broadcast along the last
            # axis, so every batch but 1 and 3 fails in ONNX Runtime, and 3 blanks channels instead of
            # images (diffusers' ONNX pipeline calls its checker one image at a time). So the flag is
            # forward_onnx's, given a [B,1,1,1] stand-in to blank, and the blanking is done here, per image.
            _, has_nsfw = self.c.forward_onnx(clip_input, torch.zeros_like(images[:, :1, :1, :1]))
            out_images = torch.where(has_nsfw[:, None, None, None], torch.zeros_like(images), images)
            return out_images, has_nsfw

    export_torch(Onnx(checker), (torch.randn(1, 3, 224, 224), torch.rand(1, 512, 512, 3)),
                 os.path.join(out, "model.onnx"), ["clip_input", "images"], ["out_images", "has_nsfw_concepts"],
                 {"clip_input": {0: "batch"}, "images": {0: "batch", 1: "height", 2: "width"},
                  "out_images": {0: "batch", 1: "height", 2: "width"}, "has_nsfw_concepts": {0: "batch"}})
    write_json(os.path.join(out, "judge.json"), {
        "schema_version": 1, "name": weights.name("compvis-safety-checker"), "role": "safety", "model": "model.onnx",
        "description": weights.description(
            "CompVis/stable-diffusion-safety-checker (the SD 1.x safety checker), exported by export_sd.py") + concept,
        "image_input": {"name": "clip_input", "layout": "NCHW", "width": 224, "height": 224, "resize": "bicubic",
                        "crop": "center", "range": [0.0, 1.0], "mean": CLIP_MEAN, "std": CLIP_STD, "dtype": "float32"},
        "native_image_input": {"name": "images", "layout": "NHWC", "range": [0.0, 1.0]},
        "output": {"name": "has_nsfw_concepts", "kind": "flag"},
        "labels": ["safe", "nsfw"], "unsafe_labels": ["nsfw"], "unsafe_rule": "sum", "threshold": 0.5,
        "license": "CreativeML OpenRAIL-M (see the model card)"})
    return checker


def export_falconsai(out, weights=None):
    """Falconsai/nsfw_image_detection: a ViT fine-tuned for normal/nsfw; logits out."""
    import torch
    from transformers import AutoModelForImageClassification

    weights = weights or Weights()
    if weights.random:
        from transformers import ViTConfig, ViTForImageClassification
        weights.seeded()
        # ViT-base/16 at 224 (ViTConfig's defaults), as the checkpoint's config.json has it
        vit = {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
               "patch_size": 16, "image_size": 224}
        if weights.tiny:   # 10x ViT's init spread, or 32 wide its p(nsfw) hardly moves with the image (0.53..0.55)
            vit["initializer_range"] = 0.2
        model = ViTForImageClassification(ViTConfig(**weights.vision(vit), id2label={0: "normal", 1: "nsfw"},
                                                    label2id={"normal": 0, "nsfw": 1})).eval()
    else:
        model = AutoModelForImageClassification.from_pretrained("Falconsai/nsfw_image_detection").eval()

    class Onnx(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).logits

    export_torch(Onnx(model), (torch.randn(1, 3, 224, 224),), os.path.join(out, "model.onnx"),
                 ["pixel_values"], ["logits"], {"pixel_values": {0: "batch"}, "logits": {0: "batch"}})
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    write_json(os.path.join(out, "judge.json"), {
        "schema_version": 1, "name": weights.name("falconsai-nsfw"), "role": "safety", "model": "model.onnx",
        "description": weights.description("Falconsai/nsfw_image_detection (ViT), exported by export_sd.py"),
        # transformers' ViTImageProcessor resizes with PIL's bilinear, which is antialiased
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 224, "height": 224,
                        "resize": "bilinear_antialias", "range": [0.0, 1.0], "mean": [0.5, 0.5, 0.5],
                        "std": [0.5, 0.5, 0.5], "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "labels": labels, "unsafe_labels": [l for l in labels if l.lower() == "nsfw"], "unsafe_rule": "sum",
        "threshold": 0.5, "license": "Apache-2.0 (see the model card)"})
    return model


def export_laion_aesthetic(out, weights=None):
    """LAION's improved aesthetic predictor: CLIP ViT-L/14 image embedding (L2-normalised) -> MLP -> ~1..10."""
    import torch
    from transformers import CLIPVisionModelWithProjection

    weights = weights or Weights()
    if weights.random:
        from transformers import CLIPVisionConfig
        weights.seeded()
        vision, projection = weights.clip_l14()
        clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**vision, projection_dim=projection)).eval()
        mlp = laion_mlp(TINY_LAION_MLP if weights.tiny else LAION_MLP)
        # N(0, 1/fan_in), zero bias: the MLP is five linear layers with nothing between them, and
        # torch's default init shrinks each one's output ~1.7x, so the score would hardly move
        for layer in mlp:
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, std=layer.in_features ** -0.5)
                torch.nn.init.zeros_(layer.bias)
    else:
        clip = CLIPVisionModelWithProjection.from_pretrained("openai/clip-vit-large-patch14").eval()
        mlp = laion_mlp(LAION_MLP)
        state = torch.hub.load_state_dict_from_url(LAION_MLP_URL, map_location="cpu")
        mlp.load_state_dict({k.replace("layers.", ""): v for k, v in state.items()})
    mlp.eval()

    class Onnx(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.clip, self.mlp = clip, mlp

        def forward(self, pixel_values):
            e = self.clip(pixel_values=pixel_values).image_embeds
            e = e / e.norm(dim=-1, keepdim=True)
            return self.mlp(e).squeeze(-1)

    module = Onnx()
    export_torch(module, (torch.randn(1, 3, 224, 224),), os.path.join(out, "model.onnx"),
                 ["pixel_values"], ["score"], {"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    write_json(os.path.join(out, "judge.json"), {
        "schema_version": 1, "name": weights.name("laion-aesthetic-v2"), "role": "score", "score_name": "aesthetic",
        "model": "model.onnx",
        "description": weights.description(
            "LAION improved aesthetic predictor (CLIP ViT-L/14 + MLP, sac+logos+ava1-l14-linearMSE)"),
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 224, "height": 224, "resize": "bicubic",
                        "crop": "center", "range": [0.0, 1.0], "mean": CLIP_MEAN, "std": CLIP_STD, "dtype": "float32"},
        "text_input": None, "output": {"name": "score", "kind": "score"},
        "score": {"min": 3.0, "max": 8.0, "higher_is_better": True},
        "license": "Apache-2.0 (predictor); MIT (CLIP)"})
    return module


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["pipeline", "compvis-safety", "falconsai-nsfw", "laion-aesthetic"])
    ap.add_argument("model_or_out", help="pipeline: a Hugging Face model id or a diffusers folder; judges: the output folder")
    ap.add_argument("out", nargs="?", help="pipeline: the output folder")
    ap.add_argument("--fp16", action="store_true", help="half-precision graphs (for GPUs; needs CUDA to export)")
    ap.add_argument("--keep-scalar-timestep", action="store_true",
                    help="pipeline: leave the UNet's rank-0 timestep as Optimum wrote it (no batch_timestep.py)")
    ap.add_argument("--random-weights", action="store_true",
                    help="judges: the published architecture with seeded random weights, no download (judge.json says so)")
    ap.add_argument("--tiny", action="store_true", help="judges: the same classes at tiny widths (implies --random-weights)")
    ap.add_argument("--seed", type=int, default=0, help="judges: the seed of --random-weights")
    ap.add_argument("--golden", action="store_true",
                    help="judges: also write golden.json, the Hugging Face preprocessing + torch outputs on "
                         "judge_golden.py's test images (what RealJudgeExportsTest compares Java against)")
    a = ap.parse_args()
    if a.what == "pipeline":
        if not a.out:
            ap.error("pipeline needs a model id and an output folder")
        export_pipeline(a.model_or_out, a.out, a.fp16, batch_timestep=not a.keep_scalar_timestep)
        return
    if a.out:
        ap.error("a judge takes one folder, its output")
    os.makedirs(a.model_or_out, exist_ok=True)
    weights = Weights(random=a.random_weights, tiny=a.tiny, seed=a.seed)
    model = {"compvis-safety": export_compvis_safety, "falconsai-nsfw": export_falconsai,
             "laion-aesthetic": export_laion_aesthetic}[a.what](a.model_or_out, weights)
    if a.golden:
        import judge_golden
        judge_golden.write_golden(a.what, model, a.model_or_out)


if __name__ == "__main__":
    main()
