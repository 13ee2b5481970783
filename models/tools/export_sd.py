"""Export real checkpoints into Winnow packs (needs internet and the Hugging Face stack).

    pip install "optimum[exporters]" diffusers transformers torch onnx
    python models/tools/export_sd.py pipeline stable-diffusion-v1-5/stable-diffusion-v1-5 packs/sd15 --fp16
    python models/tools/export_sd.py pipeline stabilityai/sd-turbo packs/sd-turbo --fp16
    python models/tools/export_sd.py compvis-safety packs/judges/compvis-safety
    python models/tools/export_sd.py falconsai-nsfw packs/judges/falconsai-nsfw
    python models/tools/export_sd.py laion-aesthetic packs/judges/laion-aesthetic

then point Winnow at them (see README, "Run it on real models"):

    WINNOW_PIPELINE_PATH=packs/sd15 WINNOW_JUDGES_SAFETY_PATH=packs/judges/compvis-safety \\
    WINNOW_JUDGES_AESTHETIC_PATH=packs/judges/laion-aesthetic WINNOW_JUDGES_FAITHFULNESS_ENABLED=false \\
    java -jar target/quarkus-app/quarkus-run.jar

Each judge folder gets model.onnx and a judge.json (schema 1, see models/README.md) with
exactly the interface that the fixture judges in src/test/fixture-judges/ pin in tests.
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


def export_pipeline(model_id, out, fp16):
    """Optimum's exporter writes exactly the layout Winnow reads; nothing else is needed."""
    from optimum.exporters.onnx import main_export
    main_export(model_id, output=out, task="text-to-image", fp16=fp16, device="cuda" if fp16 else "cpu")
    index_path = os.path.join(out, "model_index.json")
    with open(index_path) as f:
        index = json.load(f)
    index["winnow_name"] = model_id.split("/")[-1] + ("-fp16" if fp16 else "")
    write_json(index_path, index)


def export_torch(module, args, path, input_names, output_names, dynamic_axes):
    import torch
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)


def export_compvis_safety(out):
    """CompVis' safety checker: CLIP ViT-L/14 features vs 17 concept embeddings (+3 special care)."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    checker = StableDiffusionSafetyChecker.from_pretrained("CompVis/stable-diffusion-safety-checker").eval()

    class Onnx(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, clip_input, images):
            out_images, has_nsfw = self.c.forward_onnx(clip_input, images)
            return out_images, has_nsfw

    export_torch(Onnx(checker), (torch.randn(1, 3, 224, 224), torch.rand(1, 512, 512, 3)),
                 os.path.join(out, "model.onnx"), ["clip_input", "images"], ["out_images", "has_nsfw_concepts"],
                 {"clip_input": {0: "batch"}, "images": {0: "batch", 1: "height", 2: "width"},
                  "out_images": {0: "batch", 1: "height", 2: "width"}, "has_nsfw_concepts": {0: "batch"}})
    write_json(os.path.join(out, "judge.json"), {
        "schema_version": 1, "name": "compvis-safety-checker", "role": "safety", "model": "model.onnx",
        "description": "CompVis/stable-diffusion-safety-checker (the SD 1.x safety checker), exported by export_sd.py",
        "image_input": {"name": "clip_input", "layout": "NCHW", "width": 224, "height": 224, "resize": "bicubic",
                        "crop": "center", "range": [0.0, 1.0], "mean": CLIP_MEAN, "std": CLIP_STD, "dtype": "float32"},
        "native_image_input": {"name": "images", "layout": "NHWC", "range": [0.0, 1.0]},
        "output": {"name": "has_nsfw_concepts", "kind": "flag"},
        "labels": ["safe", "nsfw"], "unsafe_labels": ["nsfw"], "unsafe_rule": "sum", "threshold": 0.5,
        "license": "CreativeML OpenRAIL-M (see the model card)"})


def export_falconsai(out):
    """Falconsai/nsfw_image_detection: a ViT fine-tuned for normal/nsfw; logits out."""
    import torch
    from transformers import AutoModelForImageClassification

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
        "schema_version": 1, "name": "falconsai-nsfw", "role": "safety", "model": "model.onnx",
        "description": "Falconsai/nsfw_image_detection (ViT), exported by export_sd.py",
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 224, "height": 224, "resize": "bilinear",
                        "range": [0.0, 1.0], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "labels": labels, "unsafe_labels": [l for l in labels if l.lower() == "nsfw"], "unsafe_rule": "sum",
        "threshold": 0.5, "license": "Apache-2.0 (see the model card)"})


def export_laion_aesthetic(out):
    """LAION's improved aesthetic predictor: CLIP ViT-L/14 image embedding (L2-normalised) -> MLP -> ~1..10."""
    import torch
    from transformers import CLIPVisionModelWithProjection

    clip = CLIPVisionModelWithProjection.from_pretrained("openai/clip-vit-large-patch14").eval()
    mlp = torch.nn.Sequential(
        torch.nn.Linear(768, 1024), torch.nn.Dropout(0.2), torch.nn.Linear(1024, 128), torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 64), torch.nn.Dropout(0.1), torch.nn.Linear(64, 16), torch.nn.Linear(16, 1))
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

    export_torch(Onnx(), (torch.randn(1, 3, 224, 224),), os.path.join(out, "model.onnx"),
                 ["pixel_values"], ["score"], {"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    write_json(os.path.join(out, "judge.json"), {
        "schema_version": 1, "name": "laion-aesthetic-v2", "role": "score", "score_name": "aesthetic",
        "model": "model.onnx",
        "description": "LAION improved aesthetic predictor (CLIP ViT-L/14 + MLP, sac+logos+ava1-l14-linearMSE)",
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 224, "height": 224, "resize": "bicubic",
                        "crop": "center", "range": [0.0, 1.0], "mean": CLIP_MEAN, "std": CLIP_STD, "dtype": "float32"},
        "text_input": None, "output": {"name": "score", "kind": "score"},
        "score": {"min": 3.0, "max": 8.0, "higher_is_better": True},
        "license": "Apache-2.0 (predictor); MIT (CLIP)"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["pipeline", "compvis-safety", "falconsai-nsfw", "laion-aesthetic"])
    ap.add_argument("model_or_out", help="pipeline: the Hugging Face model id; judges: the output folder")
    ap.add_argument("out", nargs="?", help="pipeline: the output folder")
    ap.add_argument("--fp16", action="store_true", help="half-precision graphs (for GPUs; needs CUDA to export)")
    a = ap.parse_args()
    if a.what == "pipeline":
        if not a.out:
            ap.error("pipeline needs a model id and an output folder")
        export_pipeline(a.model_or_out, a.out, a.fp16)
        return
    os.makedirs(a.model_or_out, exist_ok=True)
    {"compvis-safety": export_compvis_safety, "falconsai-nsfw": export_falconsai,
     "laion-aesthetic": export_laion_aesthetic}[a.what](a.model_or_out)


if __name__ == "__main__":
    main()
