"""Checks every committed ONNX model: onnx.checker (full), then a run in ONNX Runtime
with the inputs its contract declares, at batch 1 and 3 (the batch axis is dynamic).

    python models/tools/verify_packs.py
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
}
OUTPUTS = {"text_encoder": ("last_hidden_state", (32, 128)), "unet": ("out_sample", (4, 16, 16)),
           "vae_decoder": ("sample", (3, 64, 64))}


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


def main():
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
        img = meta["image_input"]
        shape = (img["height"], img["width"], 3) if img["layout"] == "NHWC" else (3, img["height"], img["width"])
        lo, hi = img["range"]

        def feeds(b, img=img, shape=shape, meta=meta, lo=lo, hi=hi):
            f = {img["name"]: rng.uniform(lo, hi, (b,) + shape).astype(np.float32)}
            if meta.get("text_input"):
                t = meta["text_input"]
                f[t["name"]] = rng.integers(0, 680, (b, t["max_length"])).astype(np.int32)
            return f
        out = meta["output"]["name"]
        expect = {out: (len(meta["labels"]),) if meta["role"] == "safety" else ()}
        check(os.path.join(judges, judge, meta["model"]), feeds, expect)
    print("all packs verified")


if __name__ == "__main__":
    sys.exit(main())
