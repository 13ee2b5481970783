"""How often the analytic checker is right: on ground-truth renders, and on the same
images after the autoencoder's round trip (the best a generated image can look).

    python models/tools/measure_checker.py [--work /tmp/tiny-shapes-work] [--n 1000]
"""
import argparse
import os

import numpy as np
import torch

import shapes_world as W
import tiny_shapes_model as M


def accuracy(specs, imgs):
    both = 0
    for s, im in zip(specs, imgs):
        r = W.check(im)
        both += r["colour"] == s.colour and r["shape"] == s.shape
    return both / len(specs)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/tiny-shapes-work")
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    torch.set_num_threads(1)
    specs, imgs = W.sample_batch(np.random.default_rng(11), a.n)
    print(f"checker colour+shape accuracy on {a.n} ground-truth renders: {accuracy(specs, imgs):.3f}")
    vae = torch.load(os.path.join(a.work, "vae.pt"))
    enc, dec = M.Encoder(), M.Decoder()
    enc.load_state_dict(vae["enc"]); dec.load_state_dict(vae["dec"])
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = dec(enc(x)[0]).clamp(-1, 1)
    rec = np.round(((y + 1) * 127.5).permute(0, 2, 3, 1).numpy()).astype(np.uint8)
    mse = np.mean((rec.astype(np.float64) - imgs) ** 2)
    print(f"autoencoder round trip: PSNR {10 * np.log10(255 ** 2 / mse):.2f} dB; "
          f"checker colour+shape accuracy on reconstructions: {accuracy(specs, rec):.3f}")


if __name__ == "__main__":
    main()
