"""Checks ONNX packs before Winnow loads them.

    python models/tools/verify_packs.py                          # every committed pack in models/
    python models/tools/verify_packs.py packs/sd15 packs/judges/compvis-safety   # exported packs

With no argument: every committed model, onnx.checker (full), then a run in ONNX Runtime with
the inputs its contract declares, at batch 1 and 3 (the batch axis is dynamic).

With folders: each exported pipeline pack (a folder with model_index.json, as export_sd.py or
`optimum-cli export onnx` writes it) or judge (a folder with judge.json). A pipeline's text
encoder, UNet and VAE decoder each run in ONNX Runtime at batch 1 and 3 at a small latent (16x16,
128 px), with the input names, dtypes and ranks they declare (external data included); the
outputs must have the expected shapes and be finite. It prints what Winnow will adapt to (id
and timestep types, text width, precision, prediction type, pad token, default size) and says
when the UNet takes a single timestep (batch_timestep.py fixes that). A judge runs on random
images at its declared input size.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

MODELS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# name -> (dtype, shape without batch) for the pipeline's contract
PIPELINE = {
    "text_encoder": {"input_ids": (np.int32, (32,))},
    "unet": {"sample": (np.float32, (4, 16, 16)), "timestep": (np.float32, ()),
             "encoder_hidden_states": (np.float32, (32, 128))},
    "vae_decoder": {"latent_sample": (np.float32, (4, 16, 16))},
    "preview_decoder": {"latent_sample": (np.float32, (4, 16, 16))},  # optional in a pack; the VAE decoder's interface
}
OUTPUTS = {"text_encoder": ("last_hidden_state", (32, 128)), "unet": ("out_sample", (4, 16, 16)),
           "vae_decoder": ("sample", (3, 64, 64)), "preview_decoder": ("sample", (3, 64, 64))}


def check(path, feeds_for, expect):
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for b in (1, 3):
        feeds = feeds_for(b)
        declared = {i.name for i in sess.get_inputs()}
        assert declared == set(feeds), f"{path}: inputs {declared}, expected {set(feeds)}"
        outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        for name, shape in expect.items():
            assert name in outs, f"{path}: no output {name}"
            assert outs[name].shape == (b,) + shape, f"{path}: {name} shape {outs[name].shape}, expected {(b,) + shape}"
            assert np.all(np.isfinite(outs[name])), f"{path}: {name} not finite"
    print(f"ok  {os.path.relpath(path, MODELS)}  ({os.path.getsize(path) / 1e6:.2f} MB)")


NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
      "tensor(int32)": np.int32, "tensor(double)": np.float64}


def session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run_checked(sess, feeds, what):
    outs = sess.run(None, feeds)
    for o, value in zip(sess.get_outputs(), outs):
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            sys.exit(f"FAIL {what}: output {o.name} is not finite")
    return outs


def check_pipeline(pack):
    """An exported SD pack: each graph at batch 1 and 3, shapes and values checked; what Winnow adapts to."""
    rng = np.random.default_rng(0)
    index = json.load(open(os.path.join(pack, "model_index.json")))
    tok_dir = os.path.join(pack, "tokenizer")
    tok_files = sorted(f for f in os.listdir(tok_dir) if f in ("vocab.json", "merges.txt", "tokenizer.json"))
    tok_config = json.load(open(os.path.join(tok_dir, "tokenizer_config.json"))) \
        if os.path.exists(os.path.join(tok_dir, "tokenizer_config.json")) else {}
    sched = json.load(open(os.path.join(pack, "scheduler", "scheduler_config.json")))
    unet_config = json.load(open(os.path.join(pack, "unet", "config.json"))) \
        if os.path.exists(os.path.join(pack, "unet", "config.json")) else {}
    text = session(os.path.join(pack, "text_encoder", "model.onnx"))
    unet = session(os.path.join(pack, "unet", "model.onnx"))
    vae = session(os.path.join(pack, "vae_decoder", "model.onnx"))
    ids = text.get_inputs()[0]
    tokens = tok_config.get("model_max_length", 77)
    tokens = 77 if not isinstance(tokens, int) or tokens > 77 else tokens
    u = {i.name: i for i in unet.get_inputs()}
    for required in ("sample", "timestep", "encoder_hidden_states"):
        if required not in u:
            sys.exit(f"FAIL {pack}/unet/model.onnx: no input '{required}' (inputs: {sorted(u)})")
    if "text_embeds" in u or "time_ids" in u:
        sys.exit(f"FAIL {pack}: an SDXL UNet (text_embeds, time_ids); Winnow does not run SDXL yet")
    float_type = NP[u["sample"].type]
    scalar = len(u["timestep"].shape) == 0
    for b in (1, 3):
        states = run_checked(text, {ids.name: rng.integers(0, 400, (b, tokens)).astype(NP[ids.type])},
                             "text encoder")[0]
        if states.shape[:2] != (b, tokens):
            sys.exit(f"FAIL text encoder: last_hidden_state {states.shape}, expected ({b}, {tokens}, width)")
        t = np.asarray(500.0 if scalar else [999.0, 500.0, 1.0][:b], dtype=NP[u["timestep"].type])
        feeds = {"sample": rng.standard_normal((b, 4, 16, 16)).astype(float_type), "timestep": t,
                 "encoder_hidden_states": states.astype(float_type)}
        noise = run_checked(unet, feeds, "UNet")[0]
        if noise.shape != (b, 4, 16, 16):
            sys.exit(f"FAIL UNet: out_sample {noise.shape}, expected {(b, 4, 16, 16)}")
        image = run_checked(vae, {vae.get_inputs()[0].name: noise.astype(NP[vae.get_inputs()[0].type])}, "VAE decoder")[0]
        if image.shape != (b, 3, 128, 128):
            sys.exit(f"FAIL VAE decoder: sample {image.shape}, expected {(b, 3, 128, 128)}")
    print(f"ok  {pack}: '{index.get('winnow_name', os.path.basename(os.path.normpath(pack)))}', "
          f"text encoder {ids.type} ids x {tokens} -> width {states.shape[2]}, "
          f"UNet {u['sample'].type[7:-1]} with a {'single (rank-0)' if scalar else 'per-row'} {u['timestep'].type[7:-1]} timestep, "
          f"{sched.get('_class_name')} {sched.get('prediction_type', 'epsilon')}, pad '{tok_config.get('pad_token')}', "
          f"tokenizer {'+'.join(tok_files)}, default size {unet_config.get('sample_size', 64) * 8}")
    if scalar:
        print(f"    its UNet takes one timestep per call: python models/tools/batch_timestep.py {pack} {pack}")


def judge_feeds(meta, b, rng, vocab):
    """Random inputs of batch b for a judge, as its judge.json declares them (ids below vocab)."""
    img = meta["image_input"]
    shape = (b, img["height"], img["width"], 3) if img["layout"] == "NHWC" else (b, 3, img["height"], img["width"])
    lo, hi = img["range"]
    feeds = {img["name"]: rng.uniform(lo, hi, shape).astype(np.float32)}
    native = meta.get("native_image_input")
    if native:
        feeds[native["name"]] = rng.uniform(0, 1, (b, 128, 128, 3)).astype(np.float32)
    if meta.get("text_input"):
        t = meta["text_input"]
        feeds[t["name"]] = rng.integers(0, vocab, (b, t["max_length"])).astype(np.int32)
    return feeds


def check_judge(folder):
    rng = np.random.default_rng(0)
    meta = json.load(open(os.path.join(folder, "judge.json")))
    sess = session(os.path.join(folder, meta["model"]))
    for b in (1, 3):
        feeds = judge_feeds(meta, b, rng, vocab=400)
        outs = dict(zip([o.name for o in sess.get_outputs()], run_checked(sess, feeds, folder)))
        out = outs.get(meta["output"]["name"])
        if out is None or out.shape[0] != b:
            sys.exit(f"FAIL {folder}: output {meta['output']['name']} missing or not batch {b}")
    print(f"ok  {folder}: {meta['role']} judge '{meta['name']}', {meta['output']['kind']} output")


def main():
    if len(sys.argv) > 1:
        for folder in sys.argv[1:]:
            if os.path.exists(os.path.join(folder, "judge.json")):
                check_judge(folder)
            elif os.path.exists(os.path.join(folder, "model_index.json")):
                check_pipeline(folder)
            else:
                sys.exit(f"FAIL {folder}: neither a pipeline pack (model_index.json) nor a judge (judge.json)")
        return 0
    rng = np.random.default_rng(0)
    for model, inputs in PIPELINE.items():
        def feeds(b, inputs=inputs):
            return {n: (rng.integers(0, 680, (b,) + s) if t == np.int32 else
                        (rng.uniform(0, 999, (b,)) if n == "timestep" else rng.standard_normal((b,) + s))).astype(t)
                    for n, (t, s) in inputs.items()}
        name, shape = OUTPUTS[model]
        check(os.path.join(MODELS, "shapes-scenes", model, "model.onnx"), feeds, {name: shape})
    judges = os.path.join(MODELS, "judges")
    for judge in sorted(os.listdir(judges)):
        meta = json.load(open(os.path.join(judges, judge, "judge.json")))

        def feeds(b, meta=meta):
            return judge_feeds(meta, b, rng, vocab=680)
        out = meta["output"]["name"]
        expect = {out: (len(meta["labels"]),) if meta["role"] == "safety" else ()}
        check(os.path.join(judges, judge, meta["model"]), feeds, expect)
    print("all packs verified")


if __name__ == "__main__":
    sys.exit(main())
