"""Gives a pack's UNet a timestep per row: rewrites a rank-0 `timestep` input into `timestep[batch]`.

    python models/tools/batch_timestep.py IN_PACK OUT_PACK     # a new pack (other files hard-linked or copied)
    python models/tools/batch_timestep.py PACK PACK            # in place

Optimum 1.24 and later export the Stable Diffusion UNet with a scalar `timestep` (`"timestep": {}`
in its UNetOnnxConfig), so one call runs every row at one timestep and Winnow cannot batch jobs
that are at different steps (README, "UNets with a single timestep"). The UNet itself has no such
limit: diffusers' `UNet2DConditionModel.get_time_embed` turns a scalar into a batch with
`timesteps[None]` and then `timesteps.expand(sample.shape[0])`, and the time projection works per
row. The exported graph shows exactly that chain:

    timestep (rank 0) -> Unsqueeze(axes=[0]) -> [Cast] -> Expand(to [batch]) -> time_proj ...

This edit declares `timestep` as [batch] (the same dimension name as `sample`'s first axis, the
same element type) and removes the Unsqueeze, so the Expand receives the per-row vector and leaves
it as it is. It is a graph edit, not a re-export: the weights are not loaded or rewritten, and
external data (`model.onnx_data`, which a full-size fp32 UNet needs) is carried over as it is.

Then it checks numerically, with ONNX Runtime on the CPU, that each row of a mixed-timestep
batch equals the original model run on that row alone at that row's timestep (at a small latent,
16x16 by default, so that a full-size UNet checks in seconds), and refuses to write the pack if not.
"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ORT_TYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.FLOAT16: np.float16,
             onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32, onnx.TensorProto.DOUBLE: np.float64}


def fail(message):
    sys.exit(f"batch_timestep: {message}")


def find_input(graph, name):
    for value in graph.input:
        if value.name == name:
            return value
    return None


def unsqueeze_axes(graph, node):
    for attribute in node.attribute:          # opset < 13: axes is an attribute
        if attribute.name == "axes":
            return list(attribute.ints)
    if len(node.input) > 1:                   # opset >= 13: axes is an input, a constant here
        for init in graph.initializer:
            if init.name == node.input[1]:
                return numpy_helper.to_array(init).tolist()
        for n in graph.node:
            if n.op_type == "Constant" and n.output[0] == node.input[1]:
                return numpy_helper.to_array(n.attribute[0].t).tolist()
    return None


def has_scalar_timestep(unet_path):
    """True when the UNet at this path takes one timestep for the whole batch (what this tool fixes)."""
    model = onnx.load(unet_path, load_external_data=False)
    timestep = find_input(model.graph, "timestep")
    return timestep is not None and len(timestep.type.tensor_type.shape.dim) == 0


def rewrite(model):
    """Edits the graph in place; returns the element type of `timestep`."""
    graph = model.graph
    timestep = find_input(graph, "timestep")
    sample = find_input(graph, "sample")
    if timestep is None or sample is None:
        fail("this UNet has no 'timestep' or no 'sample' input; it is not a Stable Diffusion UNet export")
    dims = timestep.type.tensor_type.shape.dim
    if len(dims) == 1:
        fail("the UNet's 'timestep' already has a batch axis; nothing to do")
    if len(dims) != 0:
        fail(f"the UNet's 'timestep' has rank {len(dims)}; expected a scalar (rank 0)")

    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    # Each use of the scalar must be diffusers' `timesteps[None]`, possibly after a Cast.
    removed = []
    rename = {}
    for node in consumers.get("timestep", []):
        chain = [node]
        while chain[-1].op_type == "Cast" and len(consumers.get(chain[-1].output[0], [])) == 1:
            chain.append(consumers[chain[-1].output[0]][0])
        last = chain[-1]
        if last.op_type != "Unsqueeze" or unsqueeze_axes(graph, last) not in ([0], [-1]):
            fail(f"'timestep' feeds {node.op_type} '{node.name}', not diffusers' timesteps[None] "
                 "(an Unsqueeze on axis 0): this graph needs a re-export, not this edit")
        # drop the Unsqueeze; a Cast before it now casts the vector instead of the scalar
        rename[last.output[0]] = last.input[0]
        removed.append(last)
    for node in removed:
        graph.node.remove(node)
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    for name in list(rename) + list(rename.values()):
        for info in list(graph.value_info):   # stale rank-1-of-1 shapes from the old scalar path
            if info.name == name:
                graph.value_info.remove(info)
    batch = sample.type.tensor_type.shape.dim[0]
    new_dim = timestep.type.tensor_type.shape.dim.add()
    if batch.dim_param:
        new_dim.dim_param = batch.dim_param
    else:
        new_dim.dim_param = "batch_size"
    return timestep.type.tensor_type.elem_type


def external_files(model):
    files = set()
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                files.add(entry.value)
    return sorted(files)


def place(src, dst):
    """Hard-links a file where possible (same file system), else copies it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def feeds(session_inputs, rows, latent, timesteps, ttype, rng):
    out = {}
    for i in session_inputs:
        name = i.name
        if name == "sample":
            out[name] = rng.standard_normal((rows, 4, latent, latent)).astype(np.float32)
        elif name == "encoder_hidden_states":
            width = i.shape[2]
            out[name] = rng.standard_normal((rows, 77, width)).astype(np.float32)
        elif name == "timestep":
            out[name] = np.asarray(timesteps, dtype=ORT_TYPES[ttype])
        else:
            fail(f"the UNet has an input '{name}' this check does not know how to feed")
    return out


def verify(original_path, rewritten_path, ttype, latent, tolerance):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    original = ort.InferenceSession(original_path, options, providers=["CPUExecutionProvider"])
    rewritten = ort.InferenceSession(rewritten_path, options, providers=["CPUExecutionProvider"])
    half = original.get_inputs()[0].type == "tensor(float16)"
    timesteps = [999, 500, 1]
    rng = np.random.default_rng(0)
    batch = feeds(rewritten.get_inputs(), len(timesteps), latent, timesteps, ttype, rng)
    if half:
        batch = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in batch.items()}
    together = rewritten.run(None, batch)[0].astype(np.float32)
    worst = 0.0
    for row, t in enumerate(timesteps):
        alone_feeds = {k: (np.asarray(t, dtype=v.dtype) if k == "timestep" else v[row:row + 1]) for k, v in batch.items()}
        alone = original.run(None, alone_feeds)[0].astype(np.float32)
        scale = max(1.0, float(np.abs(alone).max()))
        worst = max(worst, float(np.abs(alone[0] - together[row]).max()) / scale)
    # rows at different timesteps must differ from each other, or the check proves nothing
    if float(np.abs(together[0] - together[1]).max()) == 0.0:
        fail("rows at timesteps 999 and 500 gave identical outputs: the check cannot tell them apart")
    print(f"batch_timestep: {len(timesteps)} rows at timesteps {timesteps} in one call match the original "
          f"run row by row (largest difference {worst:.2e} of the output's scale, tolerance {tolerance:g})")
    if worst > tolerance:
        fail(f"a row of the mixed-timestep batch differs from the original by {worst:.2e}; the pack was not written")


def batch_timestep(in_pack, out_pack, latent=16, tolerance=1e-4):
    """Writes out_pack (or edits in_pack in place when they are the same folder); exits on failure."""
    in_unet = os.path.join(in_pack, "unet", "model.onnx")
    if not os.path.isfile(in_unet):
        fail(f"{in_unet}: not found (a pack holds unet/model.onnx)")
    model = onnx.load(in_unet, load_external_data=False)
    for name in external_files(model):
        if not os.path.isfile(os.path.join(os.path.dirname(in_unet), name)):
            fail(f"{in_unet} keeps its weights in {name}, which is not beside it")
    ttype = rewrite(model)
    in_place = os.path.realpath(in_pack) == os.path.realpath(out_pack)
    if not in_place:
        if os.path.exists(out_pack):
            fail(f"{out_pack} exists; give a new folder, or the input folder itself to edit in place")
        shutil.copytree(in_pack, out_pack, copy_function=place,
                        ignore=lambda d, names: names if os.path.realpath(d) == os.path.realpath(os.path.dirname(in_unet)) else [])
        os.makedirs(os.path.join(out_pack, "unet"), exist_ok=True)
        for name in os.listdir(os.path.dirname(in_unet)):
            if name != "model.onnx":
                place(os.path.join(os.path.dirname(in_unet), name), os.path.join(out_pack, "unet", name))

    out_unet = os.path.join(out_pack, "unet", "model.onnx")
    # The rewritten graph is written beside the weights it refers to, checked, then moved into place.
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(out_unet), suffix=".onnx", delete=False) as tmp:
        candidate = tmp.name
    try:
        onnx.save(model, candidate)
        if not external_files(model):         # onnx's checker refuses hard-linked external data;
            onnx.checker.check_model(candidate)  # ONNX Runtime's load below checks such graphs
        verify(in_unet, candidate, ttype, latent, tolerance)
        os.chmod(candidate, 0o644)
        os.replace(candidate, out_unet)
    except BaseException:
        if not in_place:                      # no half-written pack left behind
            shutil.rmtree(out_pack, ignore_errors=True)
        raise
    finally:
        if os.path.exists(candidate):
            os.remove(candidate)
    print(f"batch_timestep: {out_unet}: 'timestep' is now {onnx.TensorProto.DataType.Name(ttype).lower()}[batch]")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("in_pack")
    ap.add_argument("out_pack")
    ap.add_argument("--latent", type=int, default=16, help="latent side for the numerical check (default 16)")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest difference allowed, relative to the output's scale (fp16 UNets: use 1e-2)")
    a = ap.parse_args()
    batch_timestep(a.in_pack, a.out_pack, a.latent, a.tolerance)


if __name__ == "__main__":
    main()
