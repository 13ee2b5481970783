#!/usr/bin/env python3
"""Check the converted ONNX NSFW judge against the tfjs reference outputs.

Runs models/judges/nsfw-mobilenet-v2/model.onnx with onnxruntime (CPU) on every
fixture listed in parity/reference.json and asserts max |onnx - tfjs| <= tolerance.
Each fixture is run alone (batch 1) and all together (one batch) to exercise the
dynamic batch axis, with onnxruntime graph optimisations both on and off.

Preprocessing (identical to nsfwjs for 224x224 input): decode PNG as 8-bit RGB,
x = float32(pixel) / 255.0f, NHWC [1, 224, 224, 3].

usage: check_parity.py [--judge-dir DIR] [--tolerance T]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JUDGE = os.path.normpath(os.path.join(HERE, "..", "..", "judges", "nsfw-mobilenet-v2"))


def load_image(path: str) -> np.ndarray:
    with Image.open(path) as im:
        if im.size != (224, 224):
            raise ValueError(f"{path}: size {im.size}, expected 224x224")
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return arr.astype(np.float32) / np.float32(255.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judge-dir", default=DEFAULT_JUDGE)
    ap.add_argument("--tolerance", type=float, default=None, help="default: judge.json parity.tolerance")
    args = ap.parse_args()

    with open(os.path.join(args.judge_dir, "judge.json")) as f:
        judge = json.load(f)
    tol = args.tolerance if args.tolerance is not None else float(judge["parity"]["tolerance"])
    model_path = os.path.join(args.judge_dir, judge["model"])
    fixtures = os.path.join(args.judge_dir, judge["parity"]["fixtures"])
    with open(os.path.join(fixtures, "reference.json")) as f:
        ref = json.load(f)
    if len(ref) < 8:
        raise SystemExit(f"only {len(ref)} fixtures; need >= 8")

    onnx.checker.check_model(model_path, full_check=True)
    inp_name, out_name = judge["image_input"]["name"], judge["output"]["name"]
    labels = judge["labels"]

    x = np.stack([load_image(os.path.join(fixtures, r["file"])) for r in ref])
    want = np.array([r["probabilities"] for r in ref], dtype=np.float64)
    assert want.shape == (len(ref), len(labels)), want.shape

    worst = 0.0
    for level_name, level in (("ORT_ENABLE_ALL", ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
                              ("ORT_DISABLE_ALL", ort.GraphOptimizationLevel.ORT_DISABLE_ALL)):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
        i0, o0 = sess.get_inputs()[0], sess.get_outputs()[0]
        assert (i0.name, i0.type, i0.shape) == (inp_name, "tensor(float)", ["batch", 224, 224, 3]), i0
        assert (o0.name, o0.type, o0.shape) == (out_name, "tensor(float)", ["batch", len(labels)]), o0
        single = np.concatenate([sess.run([out_name], {inp_name: x[i:i + 1]})[0] for i in range(len(x))])
        batched = sess.run([out_name], {inp_name: x})[0]
        for mode, got in (("batch=1", single), (f"batch={len(x)}", batched)):
            diff = np.abs(got.astype(np.float64) - want)
            worst = max(worst, float(diff.max()))
            print(f"[{level_name:15s} {mode:8s}] max abs diff {diff.max():.3e}")
            if level_name == "ORT_ENABLE_ALL" and mode == "batch=1":
                for r, d, g in zip(ref, diff.max(axis=1), got):
                    top = labels[int(np.argmax(g))]
                    print(f"    {r['file']:24s} diff {d:.3e}  top={top:8s} " + " ".join(f"{v:.6f}" for v in g))

    print(f"fixtures: {len(ref)}, max abs diff over all runs: {worst:.3e} (tolerance {tol:g})")
    if not worst <= tol:
        print("PARITY FAILED", file=sys.stderr)
        return 1
    print("PARITY OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
