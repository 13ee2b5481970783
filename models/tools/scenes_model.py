"""The scenes pipeline's three networks (and the autoencoder's encoder), in PyTorch.

Same interfaces as Stable Diffusion's, so the ONNX exports match Optimum's layout:
  text encoder  input_ids [B,77] int32     -> last_hidden_state [B,77,TEXT_DIM]
  UNet          sample [B,4,16,16], timestep [B] float, encoder_hidden_states [B,77,TEXT_DIM]
                -> out_sample [B,4,16,16] (v prediction)
  VAE decoder   latent_sample [B,4,16,16] -> sample [B,3,64,64] in about [-1,1]

The autoencoder downsamples 4x, not SD's 8x: the smallest object of the scenes world is
0.18 of the side (11.5 px at 64 px), and an 8x latent cell would hold the edges of two
objects. Attention is written out (matmul + softmax) so the ONNX graphs stay plain.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_DIM = 128
MAX_LEN = 32  # the pack's token window: the scenes grammar needs at most ~25 tokens, and a short window halves the text encoder's work
LATENT_CH = 4
IMAGE_SIZE = 64
VAE_FACTOR = 4
LATENT_SIZE = IMAGE_SIZE // VAE_FACTOR


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
    """A CLIP-style text transformer: causal mask, pre-LayerNorm, learned positions, final LayerNorm.

    With the causal mask a noun's state has seen its own adjectives ("red" before "circle")
    and everything said before it, which is what binding colours to shapes needs. It has not seen
    what comes after it: in "a red circle above a blue square" the circle's states never see
    "above". `bidirectional` > 0 adds that many blocks without a mask after the causal ones, so
    every state can read the whole prompt (as T5-style encoders do); `grow_bidirectional` adds
    them to a trained encoder with the same function.
    """

    def __init__(self, vocab_size, dim=TEXT_DIM, layers=3, heads=4, bidirectional=0):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, dim) * 0.01)
        self.blocks = nn.ModuleList([TextBlock(dim, heads) for _ in range(layers)])
        self.whole = nn.ModuleList([TextBlock(dim, heads) for _ in range(bidirectional)])
        self.bidirectional = bidirectional
        self.ln = nn.LayerNorm(dim)
        self.register_buffer("mask", torch.full((MAX_LEN, MAX_LEN), -1e4).triu(1), persistent=False)

    def forward(self, input_ids):
        x = self.tok(input_ids.long()) + self.pos
        for blk in self.blocks:
            x = blk(x, self.mask)
        for blk in self.whole:
            x = blk(x, None)
        return self.ln(x)


def grow_bidirectional(causal: TextEncoder, blocks: int = 1) -> TextEncoder:
    """`causal` with `blocks` unmasked blocks after its own, computing what `causal` computes: the new
    blocks' output projections start at zero, so each adds nothing until training moves it."""
    vocab, dim = causal.tok.weight.shape
    grown = TextEncoder(vocab, dim, len(causal.blocks), causal.blocks[0].heads, bidirectional=blocks)
    for blk in grown.whole:
        for layer in (blk.proj, blk.mlp[2]):
            nn.init.zeros_(layer.weight); nn.init.zeros_(layer.bias)
    return _grown(grown, causal, lambda name: name.startswith("whole."))


def bidirectional_blocks(state: dict) -> int:
    """How many unmasked blocks a TextEncoder state dict holds (what to build before loading it)."""
    return len({k.split(".")[1] for k in state if k.startswith("whole.")})


def _grown(grown: nn.Module, old: nn.Module, is_new) -> nn.Module:
    """`grown` with `old`'s weights; only parameters that is_new(name) accepts may be missing from
    `old` (they keep the initial values that make `grown` compute what `old` computes)."""
    missing, unexpected = grown.load_state_dict(old.state_dict(), strict=False)
    assert not unexpected and all(is_new(k) for k in missing), (missing, unexpected)
    return grown.train(old.training)


# ---------------------------------------------------------------- UNet
def timestep_embedding(t, dim):
    """diffusers' get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
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


class TransformerBlock(nn.Module):
    """SD's BasicTransformerBlock: self-attention over the grid (optional), cross-attention to
    the text states, feed-forward; each pre-normed and residual."""

    def __init__(self, ch, ctx_dim, heads=4, self_attn=True, cells=0):
        super().__init__()
        self.heads = heads
        self.self_attn = self_attn
        if self_attn:
            self.n1 = nn.LayerNorm(ch)
            self.qkv = nn.Linear(ch, 3 * ch)
            self.o1 = nn.Linear(ch, ch)
        # cells > 0: a learned vector per grid cell, added where attention reads the grid (the
        # self-attention's input and the cross-attention's query). Without it attention is blind
        # to where a cell is (permutation-equivariant), so "a circle left of a square" can only be
        # arranged through the convolutions' zero padding.
        self.pos = nn.Parameter(torch.zeros(cells, ch)) if cells else None
        self.n2 = nn.LayerNorm(ch)
        self.q = nn.Linear(ch, ch)
        self.kv = nn.Linear(ctx_dim, 2 * ch)
        self.o2 = nn.Linear(ch, ch)
        self.n3 = nn.LayerNorm(ch)
        self.ff = nn.Sequential(nn.Linear(ch, 4 * ch), nn.GELU(), nn.Linear(4 * ch, ch))

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        t = x.reshape(b, c, h * w).transpose(1, 2)
        where = (lambda u: u) if self.pos is None else (lambda u: u + self.pos)
        if self.self_attn:
            q, k, v = self.qkv(where(self.n1(t))).chunk(3, dim=-1)
            t = t + self.o1(attention(q, k, v, self.heads))
        k, v = self.kv(ctx).chunk(2, dim=-1)
        t = t + self.o2(attention(self.q(where(self.n2(t))), k, v, self.heads))
        t = t + self.ff(self.n3(t))
        return t.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """Three levels (16x16, 8x8, 4x4); cross-attention at every level, self-attention below 16x16.

    The timestep embedding also carries the text's last state (the causal encoder's summary
    of the whole prompt, read from `encoder_hidden_states` itself, so the interface stays
    SD's): a global signal for how many objects the scene holds.

    positional=True (`train_scenes.py unet --grow-positional`): every attention block, at every
    level, reads a learned position per cell. `grow_positional` makes one from a plain UNet with
    the same function: the new positions start at zero. (Self-attention at 16x16 as well was
    weighed first: 256 cells made the UNet 2.9x slower per call on CPU, for a pack whose objects
    span two or more 8x8 cells.)
    """

    def __init__(self, chs=(48, 96, 128), ctx_dim=TEXT_DIM, positional=False):
        super().__init__()
        c1, c2, c3 = chs
        tdim = 4 * c1
        self.chs, self.c1, self.positional = chs, c1, positional
        L = LATENT_SIZE
        cells = (lambda side: side * side) if positional else (lambda side: 0)
        self.temb = nn.Sequential(nn.Linear(c1, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.pool = nn.Sequential(nn.LayerNorm(ctx_dim), nn.Linear(ctx_dim, tdim))
        self.conv_in = nn.Conv2d(LATENT_CH, c1, 3, padding=1)
        self.d1, self.a1 = ResBlock(c1, c1, tdim), TransformerBlock(c1, ctx_dim, self_attn=False, cells=cells(L))
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.d2, self.a2 = ResBlock(c2, c2, tdim), TransformerBlock(c2, ctx_dim, cells=cells(L // 2))
        self.down2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.d3, self.a3 = ResBlock(c3, c3, tdim), TransformerBlock(c3, ctx_dim, cells=cells(L // 4))
        self.m, self.am = ResBlock(c3, c3, tdim), TransformerBlock(c3, ctx_dim, cells=cells(L // 4))
        self.u3, self.au3 = ResBlock(2 * c3, c3, tdim), TransformerBlock(c3, ctx_dim, cells=cells(L // 4))
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c3, c2, 3, padding=1))
        self.u2, self.au2 = ResBlock(2 * c2, c2, tdim), TransformerBlock(c2, ctx_dim, cells=cells(L // 2))
        self.up1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c2, c1, 3, padding=1))
        self.u1, self.au1 = ResBlock(2 * c1, c1, tdim), TransformerBlock(c1, ctx_dim, self_attn=False, cells=cells(L))
        self.n_out = nn.GroupNorm(8, c1)
        self.conv_out = nn.Conv2d(c1, LATENT_CH, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        ctx = encoder_hidden_states
        t = self.temb(timestep_embedding(timestep, self.c1)) + self.pool(ctx[:, -1])
        h1 = self.a1(self.d1(self.conv_in(sample), t), ctx)  # 16x16
        h2 = self.a2(self.d2(self.down1(h1), t), ctx)  # 8x8
        h3 = self.a3(self.d3(self.down2(h2), t), ctx)  # 4x4
        m = self.am(self.m(h3, t), ctx)
        u = self.au3(self.u3(torch.cat([m, h3], 1), t), ctx)
        u = self.au2(self.u2(torch.cat([self.up2(u), h2], 1), t), ctx)
        u = self.au1(self.u1(torch.cat([self.up1(u), h1], 1), t), ctx)
        return self.conv_out(F.silu(self.n_out(u)))


def grow_positional(plain: UNet) -> UNet:
    """A positional UNet that computes what `plain` computes: `plain`'s weights and zero positions,
    so a continued training starts from the old model rather than from a perturbed one."""
    return _grown(UNet(plain.chs, positional=True), plain, lambda name: name.endswith(".pos"))


def is_positional(state: dict) -> bool:
    """Whether a UNet state dict holds positions (what to build before loading it)."""
    return any(k.endswith(".pos") for k in state)


# ---------------------------------------------------------------- autoencoder
class AEBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Encoder(nn.Module):
    """64x64 RGB -> pixel-unshuffle to 32x32x12 -> convs -> 16x16; mean and log-variance of 4 channels.

    No convolution runs at 64x64 (slow on small CPUs): the full-resolution step is a lossless
    pixel unshuffle. Used for training only; packs ship the decoder, as SD exports do.
    """

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2), nn.Conv2d(12, 64, 3, padding=1), AEBlock(64),
            nn.Conv2d(64, 96, 3, stride=2, padding=1), AEBlock(96), AEBlock(96),
            nn.GroupNorm(8, 96), nn.SiLU(), nn.Conv2d(96, 2 * LATENT_CH, 3, padding=1))

    def forward(self, x):
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)


class Decoder(nn.Module):
    """16x16x4 latents -> 16x16 (128 ch) -> nearest 2x -> 32x32 (64 ch) -> pixel-shuffle to 64x64 RGB."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(LATENT_CH, 128, 3, padding=1), AEBlock(128), AEBlock(128),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(128, 64, 3, padding=1), AEBlock(64), AEBlock(64),
            nn.GroupNorm(8, 64), nn.SiLU(), nn.Conv2d(64, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, z):
        return self.net(z)
