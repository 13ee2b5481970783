"""Fits the float polynomials of the vector-box-muller noise generator (ScalarNoiseBlocks.java) and
prints their coefficients and their largest errors when evaluated in float32 by Horner's rule, as
the Java code evaluates them (no fused multiply-add).

    /work/venv/bin/python models/tools/noise_polynomials.py     # numpy only; about a second

- ln(1 + x) = x - x^2/2 + x^3 * P(x) on [sqrt(1/2) - 1, sqrt(2) - 1], P of degree 6;
- sin(y) = y + y^3 * S(y^2) and cos(y) = 1 - y^2/2 + y^4 * C(y^2) on [-pi/4, pi/4], S and C of
  degree 2.

Each is a least-squares fit at Chebyshev nodes, reweighted towards the largest errors (a few
rounds of iteratively reweighted least squares, close to minimax). The printed coefficients,
rounded to float32, are the constants L0..L6, S0..S2 and C0..C2 in ScalarNoiseBlocks; changing
them changes what every seed gives for packs naming vector-box-muller (docs/DETERMINISM.md).
"""
import numpy as np

f32 = np.float32


def fit(fn, lo, hi, degree, n=20000):
    x = np.cos(np.pi * (np.arange(n) + 0.5) / n) * (hi - lo) / 2 + (hi + lo) / 2
    a = np.stack([x ** p for p in range(degree + 1)], 1)
    y = fn(x)
    w = np.ones(n)
    for _ in range(30):
        c, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
        e = np.abs(a @ c - y)
        w = w * (1 + e / e.max()) ** 2
        w /= w.mean()
    return [f32(v) for v in c]


def horner(cs, x):
    r = f32(cs[-1])
    for c in cs[-2::-1]:
        r = f32(f32(r * x) + c)
    return r


def main():
    lo, hi = np.sqrt(0.5) - 1, np.sqrt(2) - 1
    p = fit(lambda x: (np.log1p(x) - x + x * x / 2) / x ** 3, lo, hi, 6)
    q = np.pi / 4
    # from y^2 = 1e-3 up: below it the remainders' float64 cancellation, not the fit, dominates
    s = fit(lambda z: (np.sin(np.sqrt(z)) - np.sqrt(z)) / z ** 1.5, 1e-3, q * q, 2)
    c = fit(lambda z: (np.cos(np.sqrt(z)) - 1 + z / 2) / z ** 2, 1e-3, q * q, 2)
    for name, cs in (("L", p), ("S", s), ("C", c)):
        print("  ".join(f"{name}{i} = {np.format_float_positional(v, unique=True)}f" for i, v in enumerate(cs)))

    x = np.linspace(lo, hi, 200001).astype(f32)
    z = f32(x * x)
    ln = f32(f32(x - f32(z * f32(0.5))) + f32(f32(z * x) * horner(p, x)))
    print("ln(1+x) largest error", np.abs(ln.astype(np.float64) - np.log1p(x.astype(np.float64))).max())
    y = np.linspace(-q, q, 200001).astype(f32)
    yy = f32(y * y)
    sin = f32(y + f32(f32(yy * y) * horner(s, yy)))
    cos = f32(f32(f32(1) - f32(yy * f32(0.5))) + f32(f32(yy * yy) * horner(c, yy)))
    print("sin largest error", np.abs(sin - np.sin(y.astype(np.float64))).max(),
          "cos largest error", np.abs(cos - np.cos(y.astype(np.float64))).max())


if __name__ == "__main__":
    main()
