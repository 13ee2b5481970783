"""Writes the hand-built test fixture packs: graphs with the exact input/output names, dtypes and
shapes of Stable Diffusion ONNX exports in the dialects of exporters that can no longer be run
(Optimum before 1.24, diffusers' own converter), with cheap bodies (a few elementwise ops), so
the Java loader and the whole HTTP path are tested against those interfaces too. They are
fixtures: their images mean nothing.

    python models/tools/make_fixture_packs.py                 # writes every fixture below
    python models/tools/make_fixture_packs.py sd15-fp16-diffusers-fixture   # only the packs named

| fixture | mimics | ids | timestep | dtype | text width | prediction | pad | size |
|---|---|---|---|---|---|---|---|---|
| sd15-optimum-fixture | SD 1.5 via Optimum < 1.24 | int64 | int64 [B] | fp32 | 768 | epsilon | <|endoftext|> | 512 |
| sd15-fp16-diffusers-fixture | SD 1.5 via diffusers' converter, --fp16 | int32 | float [B] | fp16 | 768 | epsilon | <|endoftext|> | 512 |

`sdxl-unsupported-fixture` has SDXL's UNet inputs (`text_embeds`, `time_ids`): Winnow must
refuse it at startup with a clear message until SDXL is supported.

What today's exporter writes is not hand-built: `make_export_fixtures.sh` makes
`sd15-optimum-scalar-fixture`, `sd15-optimum-batched-fixture`, `sd21-v-fixture` and
`sd-turbo-fixture` with Optimum itself, from the real architectures at tiny widths.

The tokenizer files (vocab.json, merges.txt) are the ones the fixtures have always carried,
kept in `sd15-optimum-fixture/tokenizer/` (a small shapes-world CLIP-BPE vocabulary: the
real CLIP vocabulary may not be copied into the repository); real exports carry CLIP's, in
the same format.
"""
import json
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "src", "test", "fixture-packs")
TOKENIZER = os.path.join(OUT, "sd15-optimum-fixture", "tokenizer")
# read before any pack folder is rewritten (the source is itself a fixture's folder)
TOKENIZER_FILES = {f: open(os.path.join(TOKENIZER, f), "rb").read() for f in ("vocab.json", "merges.txt")}


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def save(graph, path):
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], producer_name="winnow-fixture")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def text_encoder(path, id_type, width, ftype):
    npf = np.float16 if ftype == T.FLOAT16 else np.float32
    nodes = [
        h.make_node("Cast", ["input_ids"], ["ids_f"], to=ftype),
        h.make_node("Unsqueeze", ["ids_f", "axis2"], ["ids3"]),
        h.make_node("Mul", ["ids3", "w"], ["scaled"]),
        h.make_node("Sin", ["scaled"], ["last_hidden_state"]),
        h.make_node("ReduceMean", ["last_hidden_state"], ["pooler_output"], axes=[1], keepdims=0),
    ]
    w = (np.linspace(0.5, 1.5, width) * 1e-3).astype(npf).reshape(1, 1, width)
    g = h.make_graph(nodes, "text_encoder",
                     [h.make_tensor_value_info("input_ids", id_type, ["batch", 77])],
                     [h.make_tensor_value_info("last_hidden_state", ftype, ["batch", 77, width]),
                      h.make_tensor_value_info("pooler_output", ftype, ["batch", width])],
                     [const("axis2", np.array([2], np.int64)), const("w", w)])
    save(g, path)


def unet(path, timestep, width, ftype):
    """out = 0.5·sample + 0.1·mean(text states) + 1e-4·timestep (a contraction, so latents stay bounded)."""
    npf = np.float16 if ftype == T.FLOAT16 else np.float32
    t_type = {"int64_b": T.INT64, "float_b": ftype}[timestep]
    nodes = [
        h.make_node("Mul", ["sample", "half"], ["a"]),
        h.make_node("ReduceMean", ["encoder_hidden_states"], ["m"], axes=[1, 2], keepdims=0),
        h.make_node("Reshape", ["m", "b111"], ["m4"]),
        h.make_node("Mul", ["m4", "tenth"], ["b"]),
        h.make_node("Cast", ["timestep"], ["t_f"], to=ftype),
        h.make_node("Reshape", ["t_f", "b111"], ["t4"]),
        h.make_node("Mul", ["t4", "tiny"], ["c"]),
        h.make_node("Add", ["a", "b"], ["ab"]),
        h.make_node("Add", ["ab", "c"], ["out_sample"]),
    ]
    g = h.make_graph(nodes, "unet",
                     [h.make_tensor_value_info("sample", ftype, ["batch", 4, "height", "width"]),
                      h.make_tensor_value_info("timestep", t_type, ["batch"]),
                      h.make_tensor_value_info("encoder_hidden_states", ftype, ["batch", "sequence", width])],
                     [h.make_tensor_value_info("out_sample", ftype, ["batch", 4, "height", "width"])],
                     [const("half", np.array(0.5, npf)), const("tenth", np.array(0.1, npf)),
                      const("tiny", np.array(1e-4, npf)), const("b111", np.array([-1, 1, 1, 1], np.int64))])
    save(g, path)


def vae_decoder(path, ftype):
    """A 1×1 convolution to RGB, nearest ×8 upsampling, tanh: [B,4,h,w] -> [B,3,8h,8w]."""
    npf = np.float16 if ftype == T.FLOAT16 else np.float32
    rng = np.random.default_rng(0)
    nodes = [
        h.make_node("Conv", ["latent_sample", "k"], ["rgb"]),
        h.make_node("Resize", ["rgb", "", "scales"], ["big"], mode="nearest"),
        h.make_node("Tanh", ["big"], ["sample"]),
    ]
    g = h.make_graph(nodes, "vae_decoder",
                     [h.make_tensor_value_info("latent_sample", ftype, ["batch", 4, "height", "width"])],
                     [h.make_tensor_value_info("sample", ftype, ["batch", 3, "out_height", "out_width"])],
                     [const("k", (rng.standard_normal((3, 4, 1, 1)) * 0.3).astype(npf)),
                      const("scales", np.array([1, 1, 8, 8], np.float32))])
    save(g, path)


def dump(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def pack(name, *, id_type, timestep, ftype, width, prediction, spacing, pad, sample_size, scheduler_class,
         scaling_factor=0.18215, noise=None):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    text_encoder(os.path.join(d, "text_encoder", "model.onnx"), id_type, width, ftype)
    unet(os.path.join(d, "unet", "model.onnx"), timestep, width, ftype)
    vae_decoder(os.path.join(d, "vae_decoder", "model.onnx"), ftype)
    dump(os.path.join(d, "model_index.json"), {
        "_class_name": "ORTStableDiffusionPipeline", "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["optimum", "ORTModelTextEncoder"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["optimum", "ORTModelUnet"], "vae_decoder": ["optimum", "ORTModelVaeDecoder"],
        "winnow_name": name, **({"winnow_noise": noise} if noise else {})})
    dump(os.path.join(d, "scheduler", "scheduler_config.json"), {
        "_class_name": scheduler_class, "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "prediction_type": prediction, "timestep_spacing": spacing,
        "steps_offset": 1, "set_alpha_to_one": False, "clip_sample": False})
    dump(os.path.join(d, "unet", "config.json"), {"_class_name": "UNet2DConditionModel", "sample_size": sample_size,
                                                   "in_channels": 4, "cross_attention_dim": width})
    vae_cfg = {"_class_name": "AutoencoderKL", "latent_channels": 4, "block_out_channels": [128, 256, 512, 512]}
    if scaling_factor is not None:
        vae_cfg["scaling_factor"] = scaling_factor
    dump(os.path.join(d, "vae_decoder", "config.json"), vae_cfg)
    tok = os.path.join(d, "tokenizer")
    os.makedirs(tok)
    for f, data in TOKENIZER_FILES.items():
        with open(os.path.join(tok, f), "wb") as out:
            out.write(data)
    dump(os.path.join(tok, "special_tokens_map.json"), {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                                                        "pad_token": pad, "unk_token": "<|endoftext|>"})
    dump(os.path.join(tok, "tokenizer_config.json"), {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77,
                                                      "pad_token": pad, "do_lower_case": True})
    print("wrote", d)


def sdxl_unet(path):
    """SDXL's UNet interface (extra text_embeds and time_ids inputs): Winnow must refuse it clearly."""
    nodes = [h.make_node("Identity", ["sample"], ["out_sample"])]
    g = h.make_graph(nodes, "unet",
                     [h.make_tensor_value_info("sample", T.FLOAT, ["batch", 4, "height", "width"]),
                      h.make_tensor_value_info("timestep", T.FLOAT, ["batch"]),
                      h.make_tensor_value_info("encoder_hidden_states", T.FLOAT, ["batch", 77, 2048]),
                      h.make_tensor_value_info("text_embeds", T.FLOAT, ["batch", 1280]),
                      h.make_tensor_value_info("time_ids", T.FLOAT, ["batch", 6])],
                     [h.make_tensor_value_info("out_sample", T.FLOAT, ["batch", 4, "height", "width"])])
    save(g, path)


JUDGES = os.path.join(ROOT, "src", "test", "fixture-judges")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def judge(name, graph, manifest):
    d = os.path.join(JUDGES, name)
    shutil.rmtree(d, ignore_errors=True)
    save(graph, os.path.join(d, "model.onnx"))
    dump(os.path.join(d, "judge.json"), dict({"schema_version": 1, "name": name, "model": "model.onnx",
                                               "license": "MIT (test fixture)"}, **manifest))
    print("wrote", d)


def judges():
    """Fixture judges with the interfaces that models/tools/export_sd.py produces from real checkpoints."""
    clip_224 = {"layout": "NCHW", "width": 224, "height": 224, "resize": "bicubic", "crop": "center",
                "range": [0.0, 1.0], "mean": CLIP_MEAN, "std": CLIP_STD, "dtype": "float32"}
    # CompVis StableDiffusionSafetyChecker via Optimum: clip_input + images -> out_images, has_nsfw_concepts.
    # Fixture body: flags an image whose CLIP-normalised mean exceeds 1.5 (a white image does).
    g = h.make_graph([
        h.make_node("ReduceMean", ["clip_input"], ["m"], axes=[1, 2, 3], keepdims=0),
        h.make_node("Greater", ["m", "limit"], ["has_nsfw_concepts"]),
        h.make_node("Identity", ["images"], ["out_images"])], "safety_checker",
        [h.make_tensor_value_info("clip_input", T.FLOAT, ["batch", 3, 224, 224]),
         h.make_tensor_value_info("images", T.FLOAT, ["batch", "height", "width", 3])],
        [h.make_tensor_value_info("out_images", T.FLOAT, ["batch", "height", "width", 3]),
         h.make_tensor_value_info("has_nsfw_concepts", T.BOOL, ["batch"])],
        [const("limit", np.array(1.5, np.float32))])
    judge("compvis-safety-checker-fixture", g, {
        "role": "safety", "description": "Fixture with the CompVis safety checker's interface",
        "image_input": dict(clip_224, name="clip_input"),
        "native_image_input": {"name": "images", "layout": "NHWC", "range": [0.0, 1.0]},
        "output": {"name": "has_nsfw_concepts", "kind": "flag"},
        "labels": ["safe", "nsfw"], "unsafe_labels": ["nsfw"], "unsafe_rule": "sum", "threshold": 0.5})
    # Falconsai/nsfw_image_detection (ViT) via Optimum: pixel_values (mean/std 0.5) -> logits [normal, nsfw].
    g = h.make_graph([
        h.make_node("ReduceMean", ["pixel_values"], ["m"], axes=[1, 2, 3], keepdims=1),
        h.make_node("Reshape", ["m", "b1"], ["m2"]),
        h.make_node("Mul", ["m2", "w"], ["logits"])], "vit",
        [h.make_tensor_value_info("pixel_values", T.FLOAT, ["batch", 3, 224, 224])],
        [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 2])],
        [const("b1", np.array([-1, 1], np.int64)), const("w", np.array([[-3.0, 3.0]], np.float32))])
    judge("vit-nsfw-logits-fixture", g, {
        "role": "safety", "description": "Fixture with Falconsai/nsfw_image_detection's interface",
        "image_input": {"name": "pixel_values", "layout": "NCHW", "width": 224, "height": 224, "resize": "bilinear",
                        "range": [0.0, 1.0], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "dtype": "float32"},
        "output": {"name": "logits", "kind": "logits"},
        "labels": ["normal", "nsfw"], "unsafe_labels": ["nsfw"], "unsafe_rule": "sum", "threshold": 0.5})
    # LAION aesthetic predictor (CLIP ViT-L/14 image tower + MLP as one graph): pixel_values -> score ~1..10.
    g = h.make_graph([
        h.make_node("ReduceMean", ["pixel_values"], ["m"], axes=[1, 2, 3], keepdims=0),
        h.make_node("Tanh", ["m"], ["t"]),
        h.make_node("Mul", ["t", "two"], ["t2"]),
        h.make_node("Add", ["t2", "five"], ["score"])], "aesthetic",
        [h.make_tensor_value_info("pixel_values", T.FLOAT, ["batch", 3, 224, 224])],
        [h.make_tensor_value_info("score", T.FLOAT, ["batch"])],
        [const("two", np.array(2.0, np.float32)), const("five", np.array(5.0, np.float32))])
    judge("laion-aesthetic-fixture", g, {
        "role": "score", "score_name": "aesthetic", "description": "Fixture with the LAION aesthetic predictor's interface",
        "image_input": dict(clip_224, name="pixel_values"), "text_input": None,
        "output": {"name": "score", "kind": "score"}, "score": {"min": 1.0, "max": 10.0, "higher_is_better": True}})


PACKS = {
    "sd15-optimum-fixture": lambda: pack(
        "sd15-optimum-fixture", id_type=T.INT64, timestep="int64_b", ftype=T.FLOAT, width=768,
        prediction="epsilon", spacing="leading", pad="<|endoftext|>", sample_size=64, scheduler_class="PNDMScheduler",
        noise="vector-box-muller"),  # as export_sd.py names it for the packs it exports (issue 30)
    "sd15-fp16-diffusers-fixture": lambda: pack(
        "sd15-fp16-diffusers-fixture", id_type=T.INT32, timestep="float_b", ftype=T.FLOAT16, width=768,
        prediction="epsilon", spacing="leading", pad="<|endoftext|>", sample_size=64, scheduler_class="PNDMScheduler",
        scaling_factor=None),
    "sdxl-unsupported-fixture": lambda: (
        pack("sdxl-unsupported-fixture", id_type=T.INT64, timestep="float_b", ftype=T.FLOAT, width=2048,
             prediction="epsilon", spacing="leading", pad="!", sample_size=128, scheduler_class="EulerDiscreteScheduler"),
        sdxl_unet(os.path.join(OUT, "sdxl-unsupported-fixture", "unet", "model.onnx"))),
}


if __name__ == "__main__":
    import sys
    names = sys.argv[1:]
    unknown = [n for n in names if n not in PACKS and n != "judges"]
    if unknown:
        sys.exit("unknown fixture(s) %s; known: judges, %s" % (unknown, ", ".join(PACKS)))
    if not names or "judges" in names:
        judges()
    for name, make in PACKS.items():
        if not names or name in names:
            make()
