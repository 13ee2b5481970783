"""The tiny-shapes latent diffusion pipeline's three networks, in PyTorch.

Same interfaces as Stable Diffusion's (so the ONNX exports match Optimum's layout):
  text encoder  input_ids [B,77] int      -> last_hidden_state [B,77,TEXT_DIM]
  UNet          sample [B,4,8,8], timestep [B] float, encoder_hidden_states [B,77,TEXT_DIM]
                -> out_sample [B,4,8,8] (epsilon prediction)
  VAE decoder   latent_sample [B,4,8,8] -> sample [B,3,64,64] in about [-1,1]
Attention is written out by hand (matmul + softmax) so the ONNX graphs stay plain.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_DIM = 64
MAX_LEN = 77
LATENT_CH = 4


def attention(q, k, v, heads: int, mask=None):
    """q [B,Tq,C], k/v [B,Tk,C] -> [B,Tq,C]; plain scaled dot-product attention."""
    b, tq, c = q.shape
    tk = k.shape[1]
    d = c // heads
    q = q.reshape(b, tq, heads, d).transpose(1, 2)
    k = k.reshape(b, tk, heads, d).transpose(1, 2)
    v = v.reshape(b, tk, heads, d).transpose(1, 2)
    w = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
    if mask is not None:
        w = w + mask
    w = torch.softmax(w, dim=-1)
    return torch.matmul(w, v).transpose(1, 2).reshape(b, tq, c)


# ---------------------------------------------------------------- text encoder
class TextBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, mask):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.proj(attention(q, k, v, self.heads, mask))
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """A two-layer CLIP-style text transformer (causal mask, pre-LayerNorm, final LayerNorm)."""

    def __init__(self, vocab_size, dim=TEXT_DIM, layers=2, heads=4):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, dim) * 0.01)
        self.blocks = nn.ModuleList([TextBlock(dim, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.register_buffer("mask", torch.full((MAX_LEN, MAX_LEN), -1e4).triu(1), persistent=False)

    def forward(self, input_ids):
        x = self.tok(input_ids.long()) + self.pos
        for blk in self.blocks:
            x = blk(x, self.mask)
        return self.ln(x)


# ---------------------------------------------------------------- UNet
def timestep_embedding(t, dim):
    """diffusers' get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class CrossAttention(nn.Module):
    """Image features attend to the text states (plus a self-attention over the 8x8 grid)."""

    def __init__(self, ch, ctx_dim, heads=4):
        super().__init__()
        self.heads = heads
        self.n_self = nn.GroupNorm(8, ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.o_self = nn.Linear(ch, ch)
        self.n_cross = nn.LayerNorm(ch)
        self.q = nn.Linear(ch, ch)
        self.kv = nn.Linear(ctx_dim, 2 * ch)
        self.o_cross = nn.Linear(ch, ch)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        s = self.n_self(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.qkv(s).chunk(3, dim=-1)
        tokens = x.reshape(b, c, h * w).transpose(1, 2) + self.o_self(attention(q, k, v, self.heads))
        k, v = self.kv(ctx).chunk(2, dim=-1)
        tokens = tokens + self.o_cross(attention(self.q(self.n_cross(tokens)), k, v, self.heads))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """Two resolution levels (8x8 and 4x4), cross-attention at both, epsilon prediction."""

    def __init__(self, ch=32, ctx_dim=TEXT_DIM):
        super().__init__()
        tdim = ch * 4
        self.ch = ch
        self.temb = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(LATENT_CH, ch, 3, padding=1)
        self.d1 = ResBlock(ch, ch, tdim)
        self.a1 = CrossAttention(ch, ctx_dim)
        self.down = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.d2 = ResBlock(2 * ch, 2 * ch, tdim)
        self.a2 = CrossAttention(2 * ch, ctx_dim)
        self.m1 = ResBlock(2 * ch, 2 * ch, tdim)
        self.am = CrossAttention(2 * ch, ctx_dim)
        self.m2 = ResBlock(2 * ch, 2 * ch, tdim)
        self.u2 = ResBlock(4 * ch, 2 * ch, tdim)
        self.au2 = CrossAttention(2 * ch, ctx_dim)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.u1 = ResBlock(3 * ch, ch, tdim)
        self.au1 = CrossAttention(ch, ctx_dim)
        self.n_out = nn.GroupNorm(8, ch)
        self.conv_out = nn.Conv2d(ch, LATENT_CH, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        ctx = encoder_hidden_states
        t = self.temb(timestep_embedding(timestep, self.ch))
        h0 = self.conv_in(sample)
        h1 = self.a1(self.d1(h0, t), ctx)  # 8x8
        h2 = self.a2(self.d2(self.down(h1), t), ctx)  # 4x4
        m = self.m2(self.am(self.m1(h2, t), ctx), t)
        u = self.au2(self.u2(torch.cat([m, h2], 1), t), ctx)
        u = self.au1(self.u1(torch.cat([self.up(u), h1], 1), t), ctx)
        return self.conv_out(F.silu(self.n_out(u)))


# ---------------------------------------------------------------- VAE
class AEBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Encoder(nn.Module):
    """64x64 RGB -> pixel-unshuffle to 32x32 (32 ch) -> 16x16 (48 ch) -> 8x8 (64 ch); mean and log-variance.

    Wide convolutions at 64x64 (or ConvTranspose) are very slow on small CPUs, so the
    full-resolution work is a lossless pixel (un)shuffle and the convolutions run at 32x32 and below.
    """

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2), nn.Conv2d(12, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 48, 3, stride=2, padding=1), AEBlock(48),
            nn.Conv2d(48, 64, 3, stride=2, padding=1), AEBlock(64),
            nn.GroupNorm(8, 64), nn.SiLU(), nn.Conv2d(64, 2 * LATENT_CH, 3, padding=1))

    def forward(self, x):
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)


class Decoder(nn.Module):
    """8x8x4 latents -> 16x16 (48 ch) -> 32x32 (32 ch), nearest upsampling + convs -> pixel-shuffle to 64x64 RGB."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(LATENT_CH, 64, 3, padding=1), AEBlock(64),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(64, 48, 3, padding=1), AEBlock(48),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(48, 32, 3, padding=1),
            nn.GroupNorm(8, 32), nn.SiLU(), nn.Conv2d(32, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, z):
        return self.net(z)


class VaeDecoderExport(nn.Module):
    """What `vae_decoder/model.onnx` holds: the decoder on already-unscaled latents, as diffusers."""

    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent_sample):
        return self.decoder(latent_sample)
