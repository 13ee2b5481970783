"""Stores an ONNX graph's large float32 weights as float16, computing in float32 as before.

    python models/tools/fp16_weights.py JUDGE_DIR [--check-images N]

Why: models/ has a size budget, and a judge's weights need not be stored at full precision to
score alike. Every float32 initializer of at least --min-elements values becomes a float16
initializer plus a `Cast` back to float32 under the original name, so every operator still runs in
float32 on the same inputs (no float16 kernels needed, CPU or CUDA) and the interface is
unchanged; only the weights are rounded (relative error below 2^-11). The graph is checked with
onnx.checker, and scored against the original in onnxruntime on N seeded random pictures and on
flat colour fields: the largest score difference is printed and recorded in judge.json
(`weights_storage`), so a reader can see what the rounding costs. The model file is replaced in
place; the original goes nowhere (train again to get it back).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper


def to_fp16_weights(model: onnx.ModelProto, min_elements: int) -> int:
    """Rewrites the model in place; returns the number of initializers converted."""
    g = model.graph
    kept, casts, n = [], [], 0
    for init in g.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size >= min_elements:
            half = init.name + "_fp16"
            kept.append(numpy_helper.from_array(a.astype(np.float16), half))
            casts.append(helper.make_node("Cast", [half], [init.name], to=onnx.TensorProto.FLOAT,
                                          name=init.name + "_to_fp32"))
            n += 1
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("judge_dir")
    ap.add_argument("--min-elements", type=int, default=1024)
    ap.add_argument("--check-images", type=int, default=512)
    a = ap.parse_args(argv)
    manifest_path = os.path.join(a.judge_dir, "judge.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    path = os.path.join(a.judge_dir, manifest["model"])
    inp = manifest["image_input"]
    before_bytes = os.path.getsize(path)
    original = onnx.load(path)
    model = onnx.ModelProto()
    model.CopyFrom(original)
    n = to_fp16_weights(model, a.min_elements)
    onnx.checker.check_model(model, full_check=True)

    rng = np.random.default_rng(0)
    h, w = inp["height"], inp["width"]
    shape = (a.check_images, 3, h, w) if inp["layout"] == "NCHW" else (a.check_images, h, w, 3)
    lo, hi = inp["range"]
    x = rng.uniform(lo, hi, size=shape).astype(np.float32)
    flat = np.broadcast_to(np.linspace(lo, hi, 16, dtype=np.float32)[:, None, None, None], (16,) + shape[1:]).copy()
    x = np.concatenate([x, flat])
    name, out = inp["name"], manifest["output"]["name"]
    s0 = ort.InferenceSession(original.SerializeToString(), providers=["CPUExecutionProvider"]).run([out], {name: x})[0]
    s1 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run([out], {name: x})[0]
    diff = float(np.abs(s0 - s1).max())
    spread = float(np.ptp(s0)) or 1.0

    onnx.save(model, path)
    manifest["weights_storage"] = {"dtype": "float16", "computed_in": "float32", "initializers": n,
                                   "max_score_difference": round(diff, 6)}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"{path}: {n} initializers stored as float16, {before_bytes} -> {os.path.getsize(path)} bytes; "
          f"largest score difference {diff:.2e} over {len(x)} pictures ({diff / spread:.1e} of their score spread)")


if __name__ == "__main__":
    main()
