#!/usr/bin/env python3
"""Convert the nsfwjs 4.4.0 MobileNetV2 Keras/TF.js layers model to ONNX.

Winnow's own converter: numpy + onnx.helper only (no TensorFlow, no tf2onnx).

Input, one of:
  --package-dir DIR   the unpacked `npm pack nsfwjs@4.4.0` tarball ("package/").
                      The model is stored there as JS bundles; extract_model.cjs
                      (run with node) turns them into model.json + *.bin first.
  --model-dir DIR     an already extracted TF.js layers model (model.json + shards).

Output: an ONNX model (opset 17)
  input  "input"          float32 [batch, 224, 224, 3]  NHWC, RGB, pixel/255 in [0, 1]
  output "probabilities"  float32 [batch, 5]  softmax over Drawing, Hentai, Neutral, Porn, Sexy

Conversion notes
  * weights: the manifest says float32 but every tensor is stored as uint8 with a
    per-tensor affine quantization; TF.js dequantizes with value = q * scale + min
    computed in double precision and stored as float32 -- reproduced exactly here.
    Tensors are concatenated in manifest order (not layer order) and are looked up
    by name ("<layer>/<kernel|depthwise_kernel|bias|gamma|beta|moving_mean|moving_variance>").
  * layout: the graph transposes NHWC -> NCHW once after the input, runs NCHW ops,
    and transposes back to NHWC before Flatten (so Flatten keeps Keras' order).
  * ZeroPadding2D ((0,1),(0,1)): pads bottom/right only; folded into the pads of the
    following (valid) Conv; TF "same" padding likewise puts the odd pixel bottom/right.
  * BatchNormalization stays a real ONNX BatchNormalization (epsilon from the layer);
    onnxruntime fuses it into the preceding Conv at load time.
  * ReLU(max_value=6) -> Clip(0, 6); Dropout -> identity; the last Dense has softmax.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
LABELS = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]

NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
Q_DTYPES = {"uint8": np.uint8, "uint16": np.uint16}


# --------------------------------------------------------------------------- weights
def load_weights(model_dir: str, manifest: list) -> dict[str, np.ndarray]:
    """Decode the TF.js weight manifest into {name: float32 ndarray} exactly like tfjs-core."""
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for spec in group["weights"]:
            name, shape = spec["name"], [int(d) for d in spec["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = spec.get("quantization")
            if q is not None:
                qdt = np.dtype(Q_DTYPES[q["dtype"]])
                raw = np.frombuffer(buf, dtype=qdt, count=n, offset=off)
                off += n * qdt.itemsize
                if spec["dtype"] != "float32":
                    raise ValueError(f"{name}: quantized non-float tensors are not supported")
                # tfjs: values[i] = v * scale + min  (JS doubles) -> Float32Array
                vals = (raw.astype(np.float64) * float(q["scale"]) + float(q["min"])).astype(np.float32)
            else:
                dt = np.dtype(NP_DTYPES[spec["dtype"]])
                vals = np.frombuffer(buf, dtype=dt, count=n, offset=off).copy()
                off += n * dt.itemsize
            if name in out:
                raise ValueError(f"duplicate weight {name}")
            out[name] = vals.reshape(shape)
        if off != len(buf):
            raise ValueError(f"weight group {group['paths']}: consumed {off} of {len(buf)} bytes")
    return out


# --------------------------------------------------------------------------- graph
class Builder:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.tensor: dict[str, str] = {}   # keras layer name -> onnx tensor name
        self.shape: dict[str, tuple] = {}  # keras layer name -> (H, W, C) or (C,) without batch
        self.layout: dict[str, str] = {}   # keras layer name -> "NCHW" | "NHWC" | "NC"
        self.pending_pad: dict[str, tuple] = {}  # ZeroPadding2D layer -> (src layer, (t, b, l, r))
        self.nchw_cache: dict[str, str] = {}  # NHWC layer -> its transposed NCHW tensor
        self._names: set[str] = set()

    def w(self, name: str) -> np.ndarray:
        if name not in self.weights:
            raise KeyError(f"weight {name!r} not in manifest")
        self.used.add(name)
        return self.weights[name]

    def init(self, name: str, arr: np.ndarray) -> str:
        assert name not in self._names, name
        self._names.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    # -- tensor access (materialises a pending ZeroPadding2D as a Pad op if needed)
    def get(self, layer: str) -> str:
        if layer in self.pending_pad:
            src, (t, b, l, r) = self.pending_pad.pop(layer)
            pads = self.init(f"{layer}/pads", np.array([0, 0, t, l, 0, 0, b, r], np.int64))
            self.tensor[layer] = self.node("Pad", [self.nchw(src), pads], f"{layer}:0", layer, mode="constant")
        return self.tensor[layer]

    def nchw(self, layer: str) -> str:
        if self.layout[layer] == "NCHW":
            return self.get(layer)
        assert self.layout[layer] == "NHWC", (layer, self.layout[layer])
        if layer not in self.nchw_cache:
            self.nchw_cache[layer] = self.node("Transpose", [self.get(layer)], f"{layer}:nchw", f"{layer}/to_nchw",
                                               perm=[0, 3, 1, 2])
        return self.nchw_cache[layer]


def same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow SAME padding: the odd pixel goes to the end (bottom/right)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def conv_out(size: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def single_inbound(layer: dict) -> list[str]:
    nodes = layer["inbound_nodes"]
    if len(nodes) != 1:
        raise ValueError(f"{layer['name']}: shared layers are not supported")
    return [n[0] for n in nodes[0]]


def activation(b: Builder, name: str, act: str, x: str) -> str:
    if act == "linear":
        return x
    if act == "relu":
        return b.node("Relu", [x], f"{name}/relu:0", f"{name}/relu")
    if act == "softmax":
        return b.node("Softmax", [x], f"{name}/softmax:0", f"{name}/softmax", axis=-1)
    raise ValueError(f"{name}: unsupported activation {act!r}")


def convert(model_json: dict, weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    topo = model_json["modelTopology"]
    mc = topo.get("model_config", topo)
    if mc["class_name"] not in ("Model", "Functional"):
        raise ValueError(f"unsupported model class {mc['class_name']}")
    cfg = mc["config"]
    b = Builder(weights)
    graph_inputs = []

    for layer in cfg["layers"]:
        cls, name, c = layer["class_name"], layer["name"], layer["config"]
        if c.get("data_format", "channels_last") != "channels_last":
            raise ValueError(f"{name}: only channels_last is supported")
        ins = single_inbound(layer) if cls != "InputLayer" else []

        if cls == "InputLayer":
            _, h, w, ch = c["batch_input_shape"]
            graph_inputs.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", h, w, ch]))
            b.tensor[name], b.shape[name], b.layout[name] = "input", (h, w, ch), "NHWC"

        elif cls == "ZeroPadding2D":
            (t, bt), (l, r) = c["padding"]
            h, w, ch = b.shape[ins[0]]
            b.pending_pad[name] = (ins[0], (t, bt, l, r))  # emitted lazily (folded into a Conv if possible)
            b.shape[name], b.layout[name] = (h + t + bt, w + l + r, ch), "NCHW"

        elif cls in ("Conv2D", "DepthwiseConv2D"):
            src = ins[0]
            kh, kw = c["kernel_size"]
            sh, sw = c["strides"]
            dh, dw = c["dilation_rate"]
            h, w, cin = b.shape[src]
            if cls == "Conv2D":
                k = b.w(f"{name}/kernel")  # [kh, kw, cin, cout]
                if c.get("groups", 1) != 1:
                    raise ValueError(f"{name}: grouped Conv2D not supported")
                wt = k.transpose(3, 2, 0, 1)  # [cout, cin, kh, kw]
                group, cout = 1, k.shape[3]
            else:
                k = b.w(f"{name}/depthwise_kernel")  # [kh, kw, cin, mult]
                mult = k.shape[3]
                wt = k.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)  # out ch = c*mult + m
                group, cout = cin, cin * mult
            assert k.shape[:3] == (kh, kw, cin), (name, k.shape)
            if c["padding"] == "same":
                pt, pb = same_pads(h, kh, sh, dh)
                pl, pr = same_pads(w, kw, sw, dw)
            elif c["padding"] == "valid":
                pt = pb = pl = pr = 0
            else:
                raise ValueError(f"{name}: padding {c['padding']!r}")
            if src in b.pending_pad:  # fold ZeroPadding2D into the conv
                psrc, (t, bt, l, r) = b.pending_pad.pop(src)
                x = b.nchw(psrc)
                h, w = b.shape[psrc][:2]
                pt, pb, pl, pr = pt + t, pb + bt, pl + l, pr + r
            else:
                x = b.nchw(src)
            inputs = [x, b.init(f"{name}/W", wt.astype(np.float32))]
            if c["use_bias"]:
                inputs.append(b.init(f"{name}/B", b.w(f"{name}/bias").astype(np.float32)))
            y = b.node("Conv", inputs, f"{name}:0", name, kernel_shape=[kh, kw], strides=[sh, sw],
                       dilations=[dh, dw], pads=[pt, pl, pb, pr], group=group)
            y = activation(b, name, c["activation"], y)
            b.tensor[name], b.layout[name] = y, "NCHW"
            b.shape[name] = (conv_out(h, kh, sh, dh, pt, pb), conv_out(w, kw, sw, dw, pl, pr), cout)

        elif cls == "BatchNormalization":
            src = ins[0]
            if c["axis"] not in (-1, 3):
                raise ValueError(f"{name}: BN axis {c['axis']}")
            ch = b.shape[src][-1]
            gamma = b.w(f"{name}/gamma") if c["scale"] else np.ones(ch, np.float32)
            beta = b.w(f"{name}/beta") if c["center"] else np.zeros(ch, np.float32)
            x = b.nchw(src)
            y = b.node("BatchNormalization",
                       [x, b.init(f"{name}/gamma", gamma), b.init(f"{name}/beta", beta),
                        b.init(f"{name}/moving_mean", b.w(f"{name}/moving_mean")),
                        b.init(f"{name}/moving_variance", b.w(f"{name}/moving_variance"))],
                       f"{name}:0", name, epsilon=float(c["epsilon"]))
            b.tensor[name], b.shape[name], b.layout[name] = y, b.shape[src], "NCHW"

        elif cls == "ReLU":
            src = ins[0]
            if c.get("negative_slope", 0) != 0 or c.get("threshold", 0) != 0:
                raise ValueError(f"{name}: leaky/thresholded ReLU not supported")
            x = b.get(src)
            if c.get("max_value") is None:
                y = b.node("Relu", [x], f"{name}:0", name)
            else:
                lo = b.init(f"{name}/min", np.array(0.0, np.float32))
                hi = b.init(f"{name}/max", np.array(float(c["max_value"]), np.float32))
                y = b.node("Clip", [x, lo, hi], f"{name}:0", name)
            b.tensor[name], b.shape[name], b.layout[name] = y, b.shape[src], b.layout[src]

        elif cls == "Add":
            if len({b.layout[i] for i in ins}) != 1 or len({b.shape[i] for i in ins}) != 1:
                raise ValueError(f"{name}: mismatched Add inputs")
            y = b.get(ins[0])
            for i, other in enumerate(ins[1:]):
                y = b.node("Add", [y, b.get(other)], f"{name}:{i}", f"{name}/{i}" if len(ins) > 2 else name)
            b.tensor[name], b.shape[name], b.layout[name] = y, b.shape[ins[0]], b.layout[ins[0]]

        elif cls in ("AveragePooling2D", "MaxPooling2D"):
            src = ins[0]
            ph, pw = c["pool_size"]
            sh, sw = c["strides"] or c["pool_size"]
            h, w, ch = b.shape[src]
            if c["padding"] != "valid":
                raise ValueError(f"{name}: only valid pooling is supported")
            op = "AveragePool" if cls == "AveragePooling2D" else "MaxPool"
            y = b.node(op, [b.nchw(src)], f"{name}:0", name, kernel_shape=[ph, pw], strides=[sh, sw],
                       pads=[0, 0, 0, 0])
            b.tensor[name], b.layout[name] = y, "NCHW"
            b.shape[name] = ((h - ph) // sh + 1, (w - pw) // sw + 1, ch)

        elif cls == "Flatten":
            src = ins[0]
            x = b.get(src)
            if b.layout[src] == "NCHW":  # Keras flattens channels_last (H, W, C) order
                x = b.node("Transpose", [x], f"{name}:nhwc", f"{name}/to_nhwc", perm=[0, 2, 3, 1])
            y = b.node("Flatten", [x], f"{name}:0", name, axis=1)
            b.tensor[name], b.shape[name], b.layout[name] = y, (int(np.prod(b.shape[src])),), "NC"

        elif cls == "Dense":
            src = ins[0]
            if b.layout[src] != "NC":
                raise ValueError(f"{name}: Dense on rank>2 input not supported")
            k = b.w(f"{name}/kernel")  # [in, out]
            inputs = [b.get(src), b.init(f"{name}/W", k)]
            if c["use_bias"]:
                inputs.append(b.init(f"{name}/B", b.w(f"{name}/bias")))
            y = b.node("Gemm", inputs, f"{name}:0", name)
            y = activation(b, name, c["activation"], y)
            b.tensor[name], b.shape[name], b.layout[name] = y, (k.shape[1],), "NC"

        elif cls == "Dropout":  # inference: identity
            src = ins[0]
            b.tensor[name], b.shape[name], b.layout[name] = b.get(src), b.shape[src], b.layout[src]

        else:
            raise ValueError(f"unsupported layer {cls} ({name})")

    unused = sorted(set(weights) - b.used)
    if unused:
        raise ValueError(f"weights not consumed by any layer: {unused}")
    outs = cfg["output_layers"]
    if len(outs) != 1:
        raise ValueError("expected exactly one output layer")
    out_layer = outs[0][0]
    final = b.get(out_layer)
    if b.shape[out_layer] != (len(LABELS),):
        raise ValueError(f"output shape {b.shape[out_layer]} != ({len(LABELS)},)")
    # rename the producing node's output to "probabilities"
    for n in b.nodes:
        for i, o in enumerate(n.output):
            if o == final:
                n.output[i] = "probabilities"
        for i, o in enumerate(n.input):
            if o == final:
                n.input[i] = "probabilities"

    graph = helper.make_graph(
        b.nodes, "nsfw_mobilenet_v2", graph_inputs,
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(LABELS)])],
        initializer=b.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="winnow-convert_nsfwjs", producer_version="1",
        doc_string=("NSFW image classifier: MobileNetV2 from nsfwjs 4.4.0 (MIT, Infinite Red, Inc.), "
                    "converted to ONNX by Winnow. input: float32 [batch,224,224,3] NHWC RGB pixel/255; "
                    "output: softmax over " + ", ".join(LABELS) + "."),
    )
    model.ir_version = 8  # opset 17 <-> IR 8; keeps older onnxruntime builds happy
    helper.set_model_props(model, {
        "labels": json.dumps(LABELS),
        "source": "npm nsfwjs@4.4.0 dist/models/mobilenet_v2",
        "license": "MIT (Copyright (c) 2019 Infinite Red, Inc.)",
    })
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--package-dir", help="unpacked `npm pack nsfwjs@4.4.0` directory (contains package.json, dist/)")
    src.add_argument("--model-dir", help="extracted TF.js layers model directory (model.json + shards)")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--node", default="node", help="node executable (for --package-dir)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="nsfwjs-extract-") as tmp:
        model_dir = args.model_dir
        if args.package_dir:
            model_dir = tmp
            subprocess.run([args.node, os.path.join(HERE, "extract_model.cjs"), args.package_dir, tmp], check=True)
        with open(os.path.join(model_dir, "model.json")) as f:
            model_json = json.load(f)
        weights = load_weights(model_dir, model_json["weightsManifest"])
    print(f"loaded {len(weights)} weight tensors, {sum(v.size for v in weights.values())} parameters")

    model = convert(model_json, weights)
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model, args.out)
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {len(model.graph.node)} nodes {ops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
