"""The shapes-scenes pack's ONNX graphs back into their PyTorch modules (scenes_model).

    python models/tools/onnx_to_torch.py --check [--pack models/shapes-scenes]

Only the ONNX graphs are committed (the training checkpoints are not), so anything that trains
the pack further (train_generator.py) or samples it in PyTorch (sim_traffic.py,
eval_generator.py) starts from the graphs' weights. `load_module` reads a graph's initializers
into a fresh `TextEncoder`, `UNet` or `Decoder`:

  1. an initializer named like a parameter of the same shape is that parameter;
  2. the exporter renames what it rewrites: a Linear weight used by a 3-D MatMul is stored
     transposed as `onnx::MatMul_N`; it is the `.weight` of the Linear whose named `.bias` the
     MatMul's output is added to (found by following the graph, not by guessing);
  3. GroupNorm's affine parameters become `onnx::Mul_N` / `onnx::Add_N` of shape [C, 1, 1]
     after an InstanceNormalization; they are taken in graph order, weights (Mul) and biases
     (Add) separately, for the GroupNorm parameters left over in the module's order, each with
     its shape checked.

Anything left on either side (a parameter without an initializer, an initializer nothing
claimed, a shape that does not fit) raises: a silent mismatch would train the wrong network.
`--check` then proves the mapping numerically: every module against ONNX Runtime on random
inputs at batch 1 and 3 (max abs diff must be under 1e-4).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

import scenes_model as M
from clip_bpe import ClipTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
PACK = os.path.normpath(os.path.join(HERE, "..", "shapes-scenes"))
PARITY_TOLERANCE = 1e-4


def _consumers(graph):
    out = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def onnx_state_dict(module: torch.nn.Module, path: str) -> dict:
    """{parameter name: tensor} for `module` from the initializers of the ONNX graph at `path`."""
    graph = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    consumers = _consumers(graph)
    got, used = {}, set()

    def take(param, init, value):
        if param in got:
            raise ValueError(f"{path}: {param} claimed twice ({init})")
        if tuple(value.shape) != want[param]:
            raise ValueError(f"{path}: {init} {value.shape} does not fit {param} {want[param]}")
        got[param] = torch.from_numpy(np.array(value, dtype=value.dtype, copy=True))
        used.add(init)

    for name, value in inits.items():  # 1. by name
        if name in want and value.shape == want[name]:
            take(name, name, value)
    for name, value in inits.items():  # 2. transposed Linear weights, found through their bias
        if name in used or value.ndim != 2:
            continue
        for node in consumers.get(name, []):
            if node.op_type != "MatMul":
                continue
            for add in consumers.get(node.output[0], []):
                bias = [i for i in add.input if i.endswith(".bias") and i in want]
                if add.op_type == "Add" and bias:
                    take(bias[0][:-len(".bias")] + ".weight", name, value.T)
    # 3. GroupNorm affine parameters, in order: Mul -> weight, Add -> bias
    norms = [k[:-len(".weight")] for k in want if k.endswith(".weight") and k not in got
             and isinstance(module.get_submodule(k[:-len(".weight")]), torch.nn.GroupNorm)]
    by_op = {"Mul": [], "Add": []}
    for name, value in inits.items():
        ops = {n.op_type for n in consumers.get(name, [])}
        if name not in used and value.ndim == 3 and value.shape[1:] == (1, 1) and len(ops) == 1 and ops <= set(by_op):
            by_op[ops.pop()].append(name)
    for op, suffix in (("Mul", ".weight"), ("Add", ".bias")):
        if len(by_op[op]) != len(norms):
            raise ValueError(f"{path}: {len(by_op[op])} [C,1,1] {op} initializers for {len(norms)} GroupNorms")
        for norm, name in zip(norms, by_op[op]):
            take(norm + suffix, name, inits[name].reshape(-1))
    missing = sorted(set(want) - set(got))
    unused = sorted(set(inits) - used)
    if missing or unused:
        raise ValueError(f"{path}: parameters without an initializer {missing}; initializers not mapped {unused}")
    return got


def load_module(module: torch.nn.Module, path: str) -> torch.nn.Module:
    module.load_state_dict(onnx_state_dict(module, path), strict=True)
    return module.eval()


def load_pipeline(pack: str = PACK):
    """(text encoder, UNet, VAE decoder, latent scaling factor, tokenizer) of a pack, in PyTorch, eval mode."""
    tok = ClipTokenizer(os.path.join(pack, "tokenizer"), M.MAX_LEN)
    with open(os.path.join(pack, "text_encoder", "config.json")) as f:
        bidirectional = int(json.load(f).get("winnow_bidirectional_layers", 0))
    text = load_module(M.TextEncoder(len(tok.encoder), bidirectional=bidirectional),
                       os.path.join(pack, "text_encoder", "model.onnx"))
    with open(os.path.join(pack, "unet", "config.json")) as f:
        positional = bool(json.load(f).get("winnow_positional_attention", False))
    unet = load_module(M.UNet(positional=positional), os.path.join(pack, "unet", "model.onnx"))
    dec = load_module(M.Decoder(), os.path.join(pack, "vae_decoder", "model.onnx"))
    with open(os.path.join(pack, "vae_decoder", "config.json")) as f:
        scale = float(json.load(f)["scaling_factor"])
    return text, unet, dec, scale, tok


def random_inputs(name: str, b: int, rng, vocab: int) -> dict:
    """Random feeds for one of the pack's graphs, as its contract declares them."""
    L = M.LATENT_SIZE
    if name == "text_encoder":
        return {"input_ids": rng.integers(0, vocab, (b, M.MAX_LEN)).astype(np.int32)}
    if name == "unet":
        return {"sample": rng.standard_normal((b, M.LATENT_CH, L, L)).astype(np.float32),
                "timestep": rng.uniform(0, 999, (b,)).astype(np.float32),
                "encoder_hidden_states": rng.standard_normal((b, M.MAX_LEN, M.TEXT_DIM)).astype(np.float32)}
    return {"latent_sample": rng.standard_normal((b, M.LATENT_CH, L, L)).astype(np.float32)}


@torch.no_grad()
def parity(module: torch.nn.Module, onnx_path: str, name: str, vocab: int, seed: int = 0) -> float:
    """Max abs difference between the module and ONNX Runtime on random inputs at batch 1 and 3."""
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for b in (1, 3):
        feeds = random_inputs(name, b, rng, vocab)
        want = sess.run(None, feeds)[0]
        got = module(*[torch.from_numpy(feeds[i.name]) for i in sess.get_inputs()]).numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def check(pack: str) -> bool:
    text, unet, dec, _, tok = load_pipeline(pack)
    ok = True
    for name, module in (("text_encoder", text), ("unet", unet), ("vae_decoder", dec)):
        diff = parity(module, os.path.join(pack, name, "model.onnx"), name, len(tok.encoder))
        ok &= diff < PARITY_TOLERANCE
        print(f"{'ok  ' if diff < PARITY_TOLERANCE else 'FAIL'} {name}: max abs diff vs ONNX Runtime {diff:.2e} "
              f"(bar {PARITY_TOLERANCE:g}), {sum(p.numel() for p in module.parameters()) / 1e6:.2f}M parameters")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", default=PACK)
    ap.add_argument("--check", action="store_true", help="load every graph and compare with ONNX Runtime")
    a = ap.parse_args()
    if not a.check:
        ap.error("nothing to do: pass --check (the loader is a library: load_pipeline, load_module)")
    torch.set_num_threads(2)
    raise SystemExit(0 if check(a.pack) else 1)


if __name__ == "__main__":
    main()
