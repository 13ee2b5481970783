"""Writes a Stable Diffusion pipeline folder (diffusers' `save_pretrained` layout) with random
weights from a published configuration: what `optimum-cli export onnx --model FOLDER` reads,
so that the real exporter and the real architectures can be exercised with no download.

    python models/tools/random_sd.py sd15 /tmp/real-sd/sd15                 # full size (3.4 GB UNet)
    python models/tools/random_sd.py sd21-v /tmp/real-sd/sd21-v --tiny      # same classes, tiny widths
    python models/tools/random_sd.py sd-turbo /tmp/real-sd/sd-turbo --tiny --vocab src/test/fixture-packs/sd15-optimum-fixture/tokenizer

| arch | as published by | UNet | text encoder | scheduler | default size |
|---|---|---|---|---|---|
| sd15 | stable-diffusion-v1-5/stable-diffusion-v1-5 | 860M, cross-attention 768 | CLIP ViT-L/14 text (12 layers, quick_gelu) | PNDM, epsilon | 512 |
| sd21-v | stabilityai/stable-diffusion-2-1 | 865M, linear projections, cross-attention 1024, upcast attention | OpenCLIP ViT-H/14 text (23 layers, gelu) | DDIM, v_prediction | 768 |
| sd-turbo | stabilityai/sd-turbo | as SD 2.1 base | as SD 2.1 | Euler, trailing spacing | 512 |

The configurations are those of the model repositories' `*/config.json` files (keys left at the
classes' defaults are left out). `--tiny` keeps every class, block type and layer
count and divides the widths (UNet 320 -> 8, VAE 128 -> 8, text 768/1024 -> 32, 2 text layers, 2 norm
groups, 1-2 attention heads), so a whole pipeline weighs about two megabytes: the test fixtures in
src/test/fixture-packs/*-export-fixture are these, exported by Optimum. The tokenizer is CLIP's BPE
(`--vocab`: a folder with vocab.json and merges.txt, by default ../shared/clip-tokenizer; the
fixtures use the small vocabulary the hand-built fixtures carry, since CLIP's may not be
committed). Weights are seeded (`--seed`), so a rerun writes the same folder.
"""
import argparse
import copy
import json
import os
import shutil

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLIP_VOCAB = os.path.join(ROOT, "..", "shared", "clip-tokenizer")

SD_BETAS = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "trained_betas": None, "clip_sample": False,
            "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1}

UNET_BLOCKS = {
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "in_channels": 4, "out_channels": 4,
    "act_fn": "silu", "center_input_sample": False, "downsample_padding": 1, "flip_sin_to_cos": True,
    "freq_shift": 0, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32}

VAE = {"act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "in_channels": 3, "out_channels": 3,
       "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
       "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32}

CLIP_L_TEXT = {"hidden_act": "quick_gelu", "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
               "num_hidden_layers": 12, "projection_dim": 768, "max_position_embeddings": 77, "vocab_size": 49408,
               "layer_norm_eps": 1e-05, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
OPENCLIP_H_TEXT = {**CLIP_L_TEXT, "hidden_act": "gelu", "hidden_size": 1024, "intermediate_size": 4096,
                   "num_attention_heads": 16, "num_hidden_layers": 23, "projection_dim": 512}

ARCHS = {
    "sd15": {
        "unet": {**UNET_BLOCKS, "attention_head_dim": 8, "cross_attention_dim": 768, "sample_size": 64},
        "vae": {**VAE, "sample_size": 512}, "text": CLIP_L_TEXT, "pad": "<|endoftext|>",
        "scheduler": {"_class_name": "PNDMScheduler", **SD_BETAS}},
    "sd21-v": {
        "unet": {**UNET_BLOCKS, "attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024,
                 "use_linear_projection": True, "upcast_attention": True, "sample_size": 96},
        "vae": {**VAE, "sample_size": 768}, "text": OPENCLIP_H_TEXT, "pad": "!",
        "scheduler": {"_class_name": "DDIMScheduler", **SD_BETAS, "prediction_type": "v_prediction"}},
    "sd-turbo": {
        "unet": {**UNET_BLOCKS, "attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024,
                 "use_linear_projection": True, "sample_size": 64},
        "vae": {**VAE, "sample_size": 512}, "text": OPENCLIP_H_TEXT, "pad": "!",
        "scheduler": {"_class_name": "EulerDiscreteScheduler", **SD_BETAS, "prediction_type": "epsilon",
                      "interpolation_type": "linear", "timestep_spacing": "trailing", "use_karras_sigmas": False}},
}


def tiny(arch, vocab_size):
    """Same classes and block layout, channel widths divided, fewer heads (the attention's cost grows
    with heads x tokens^2 whatever the width: SD 1.5's 8 heads over a 64x64 latent would keep a tiny
    UNet as slow as a real one's attention)."""
    a = copy.deepcopy(arch)
    # SD 1.x gives one head count for every level, SD 2.x one per level: keep each form
    a["unet"]["attention_head_dim"] = 2 if isinstance(a["unet"]["attention_head_dim"], int) else [1, 2, 2, 2]
    a["unet"]["block_out_channels"] = [8, 16, 16, 16]
    a["unet"]["norm_num_groups"] = 2
    a["unet"]["cross_attention_dim"] = 32
    a["vae"]["block_out_channels"] = [8, 16, 16, 16]
    a["vae"]["norm_num_groups"] = 2
    a["text"] = {**a["text"], "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
                 "num_hidden_layers": 2, "projection_dim": 32, "vocab_size": vocab_size}
    return a


def tokenizer_files(vocab_dir, out, pad):
    os.makedirs(out, exist_ok=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(vocab_dir, f), os.path.join(out, f))
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad,
               "unk_token": "<|endoftext|>"}
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({**special, "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
                   "add_prefix_space": False, "errors": "replace"}, f, indent=2)


def build(name, out, is_tiny, vocab_dir, seed):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with open(os.path.join(vocab_dir, "vocab.json")) as f:
        vocab_size = len(json.load(f))
    arch = tiny(ARCHS[name], vocab_size) if is_tiny else ARCHS[name]
    if not is_tiny and vocab_size != arch["text"]["vocab_size"]:
        raise SystemExit(f"{vocab_dir}: {vocab_size} tokens, but {name}'s text encoder has {arch['text']['vocab_size']}")
    torch.manual_seed(seed)
    os.makedirs(out, exist_ok=True)
    UNet2DConditionModel(**arch["unet"]).eval().save_pretrained(os.path.join(out, "unet"))
    AutoencoderKL(**arch["vae"]).eval().save_pretrained(os.path.join(out, "vae"))
    CLIPTextModel(CLIPTextConfig(**arch["text"])).eval().save_pretrained(os.path.join(out, "text_encoder"))
    tokenizer_files(vocab_dir, os.path.join(out, "tokenizer"), arch["pad"])
    # the published file as it is (PNDM's carries keys PNDM itself ignores, such as clip_sample)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({**arch["scheduler"], "_diffusers_version": "0.30.0"}, f, indent=2)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
                   "feature_extractor": [None, None], "requires_safety_checker": False,
                   "safety_checker": [None, None], "scheduler": ["diffusers", arch["scheduler"]["_class_name"]],
                   "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                   "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch", choices=sorted(ARCHS))
    ap.add_argument("out", help="the diffusers folder to write")
    ap.add_argument("--tiny", action="store_true", help="same classes, tiny channel widths (test fixtures)")
    ap.add_argument("--vocab", default=CLIP_VOCAB, help="folder with the CLIP vocab.json and merges.txt")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    build(a.arch, a.out, a.tiny, a.vocab, a.seed)


if __name__ == "__main__":
    main()
