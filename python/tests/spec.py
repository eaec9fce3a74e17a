"""A pure numpy model of zo's random definitions, written from include/zo/core/random.hpp,
philox.hpp and direction.hpp (and the polynomials src/core/random.cpp documents), sharing no code
with the C++ core. The tests hold the extension's draws to it bit for bit.

Float32 arithmetic is numpy float32; a fused multiply-add fma(a, b, c) is computed in long double
(a·b of two floats is exact there) and rounded once to float32.
"""

import math

import numpy as np

MASK32 = 0xFFFFFFFF
STREAMS = {"value": 0, "mask": 1, "low_rank_u": 2, "low_rank_v": 3, "selector": 4}
F = np.float32


def philox4x32_10(ctr, key):
    """Philox4x32-10 on counters ctr = (c0, c1, c2, c3), each an int or a uint64 array of 32-bit
    values, under key = (k0, k1). Returns the four output words (uint64 arrays)."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in ctr)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    w0, w1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
    mask, s32 = np.uint64(MASK32), np.uint64(32)
    for _ in range(10):
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & mask, (p0 >> s32) ^ c3 ^ k1, p0 & mask
        k0 = (k0 + w0) & mask
        k1 = (k1 + w1) & mask
    return c0, c1, c2, c3


def tensor_key(name: str) -> int:
    """FNV-1a 32-bit of the name's bytes."""
    h = 2166136261
    for byte in name.encode():
        h = ((h ^ byte) * 16777619) & MASK32
    return h


def derive_seed(run_seed: int, step: int, purpose: int = 0) -> int:
    out = philox4x32_10((step & MASK32, step >> 32, purpose, 0x7A6F5344), (run_seed & MASK32, run_seed >> 32))
    return (int(out[1]) << 32) | int(out[0])


def probe_seed(run_seed: int, step: int, probe: int) -> int:
    return derive_seed(run_seed, step, probe + 1)


def bits(seed: int, key: int, stream: int, begin: int, n: int) -> np.ndarray:
    """Word i % 4 of Philox(counter (i/4 lo, i/4 hi, seed hi, stream), key (seed lo, tensor key))."""
    i = np.arange(begin, begin + n, dtype=np.uint64)
    counter = i // np.uint64(4)
    words = philox4x32_10(
        (counter & np.uint64(MASK32), counter >> np.uint64(32), np.full(n, seed >> 32, np.uint64), np.full(n, stream, np.uint64)),
        (seed & MASK32, key),
    )
    stacked = np.stack(words)  # (4, n)
    return stacked[(i % np.uint64(4)).astype(np.int64), np.arange(n)].astype(np.uint32)


def uniform(w: np.ndarray) -> np.ndarray:
    return (w >> np.uint32(8)).astype(F) * F(2.0**-24)


def rademacher(seed: int, key: int, stream: int, begin: int, n: int) -> np.ndarray:
    """Packed signs: element i is -1 when bit i % 32 of word i / 32 is set, else +1."""
    i = np.arange(begin, begin + n, dtype=np.int64)
    first = begin // 32
    words = bits(seed, key, stream, first, (begin + n - 1) // 32 - first + 1) if n else np.zeros(0, np.uint32)
    bit = (words[i // 32 - first] >> (i % 32).astype(np.uint32)) & np.uint32(1)
    return np.where(bit != 0, F(-1.0), F(1.0)).astype(F)


def fma(a, b, c) -> np.ndarray:
    ld = np.longdouble
    return (np.asarray(a, F).astype(ld) * np.asarray(b, F).astype(ld) + np.asarray(c, F).astype(ld)).astype(F)


def _as_float(u: np.ndarray) -> np.ndarray:
    return np.asarray(u, np.uint32).view(F)


def _as_bits(f: np.ndarray) -> np.ndarray:
    return np.asarray(f, F).view(np.uint32)


def minus_two_log_u1(a: np.ndarray) -> np.ndarray:
    """-2 ln(u1), u1 = (a + 0.5) 2^-32, by the Cephes logf polynomial (random.cpp's scalar twin)."""
    a = np.asarray(a, np.uint32)
    high = a >= np.uint32(1 << 31)
    v = np.where(high, a ^ np.uint32(MASK32), a)
    t = (v.astype(np.int32).astype(F) + F(0.5)) * F(2.0**-32)
    tb = _as_bits(t)
    mant = tb & np.uint32(0x007FFFFF)
    big = (mant > np.uint32(0x003504F3)).astype(np.uint32)
    m_low = _as_float(mant | ((np.uint32(127) - big) << np.uint32(23)))
    f_low = m_low - F(1.0)
    e_low = ((tb >> np.uint32(23)).astype(np.int32) - 127 + big.astype(np.int32)).astype(F)
    near_one = t <= F(0.29289321881345248)
    f_high = np.where(near_one, -t, F(1.0) - F(2.0) * t).astype(F)
    e_high = np.where(near_one, F(0.0), F(-1.0)).astype(F)
    f = np.where(high, f_high, f_low).astype(F)
    e = np.where(high, e_high, e_low).astype(F)
    z = f * f
    q0 = fma(F(-2.4999993993e-1), f, F(3.3333331174e-1))
    q1 = fma(F(-1.6668057665e-1), f, F(2.0000714765e-1))
    q2 = fma(F(-1.2420140846e-1), f, F(1.4249322787e-1))
    q3 = fma(F(-1.1514610310e-1), f, F(1.1676998740e-1))
    q01 = fma(q1, z, q0)
    q23 = fma(q3, z, q2)
    z2 = z * z
    p = fma(z2, fma(z2, F(7.0376836292e-2), q23), q01)
    y = (f * z) * p
    y = fma(e, F(-2.12194440e-4), y)
    y = fma(F(-0.5), z, y)
    ln = f + y
    ln = fma(e, F(0.693359375), ln)
    return np.maximum(F(-2.0) * ln, F(0.0))


def gaps(seed: int, key: int, stream: int, begin: int, n: int, p: float) -> np.ndarray:
    """Geometric gaps: min(floor(-2 ln u · c), 2^24), c = float(1 / (-2 ln(1 - p))), 0 for p = 1."""
    c = F(0.0) if p == 1.0 else F(1.0 / (-2.0 * math.log1p(-p)))
    g = np.minimum(minus_two_log_u1(bits(seed, key, stream, begin, n)) * c, F(2.0**24))
    return g.astype(np.uint32)


def cos_sin_turns(b: np.ndarray):
    """cos and sin of 2π b 2^-32 (quadrant from the integer, Cephes sinf/cosf on the rest)."""
    b = np.asarray(b, np.uint32)
    q = (b + np.uint32(0x20000000)) >> np.uint32(30)
    rest = (b - (q << np.uint32(30))).astype(np.int32)
    x = rest.astype(F) * F(1.46291807926715968e-9)
    z = x * x
    sp = F(-1.9515295891e-4)
    sp = fma(sp, z, F(8.3321608736e-3))
    sp = fma(sp, z, F(-1.6666654611e-1))
    s = fma(sp * z, x, x)
    cp = F(2.443315711809948e-5)
    cp = fma(cp, z, F(-1.388731625493765e-3))
    cp = fma(cp, z, F(4.166664568298827e-2))
    c = fma(cp * z, z, fma(F(-0.5), z, F(1.0)))
    swap = (q & np.uint32(1)) != 0
    cos_sign = ((q + np.uint32(1)) & np.uint32(2)) << np.uint32(30)
    sin_sign = (q & np.uint32(2)) << np.uint32(30)
    c_out = _as_float(_as_bits(np.where(swap, s, c)) ^ cos_sign)
    s_out = _as_float(_as_bits(np.where(swap, c, s)) ^ sin_sign)
    return c_out, s_out


def normal(seed: int, key: int, stream: int, begin: int, n: int) -> np.ndarray:
    """Box-Muller on word pairs (0, 1) and (2, 3) of each counter."""
    first = begin // 4 * 4
    last = (begin + n + 3) // 4 * 4
    w = bits(seed, key, stream, first, last - first).reshape(-1, 4)
    out = np.empty((w.shape[0], 4), F)
    for a, b in ((0, 1), (2, 3)):
        r = np.sqrt(minus_two_log_u1(w[:, a])).astype(F)
        c, s = cos_sin_turns(w[:, b])
        out[:, a] = r * c
        out[:, b] = r * s
    return out.reshape(-1)[begin - first : begin - first + n]


# Directions (direction.hpp) ----------------------------------------------------------------------


def values(distribution: str, seed: int, key: int, stream: int, begin: int, n: int) -> np.ndarray:
    if distribution == "rademacher":
        return rademacher(seed, key, stream, begin, n)
    return normal(seed, key, stream, begin, n)


def sphere_scale(params, seed: int) -> float:
    """sqrt(d / Σ z_raw²) over the moving params [(name, shape)], the sum in double chunk by chunk
    (2048 elements) in order, as raw_sum_of_squares does."""
    total, d = 0.0, 0
    for name, shape in params:
        n = int(np.prod(shape))
        z = normal(seed, tensor_key(name), 0, 0, n).astype(np.float64)
        partials = []
        for c in range(0, n, 2048):
            acc = 0.0
            for v in z[c : c + 2048]:
                acc += float(v) * float(v)
            partials.append(acc)
        s = 0.0
        for p in partials:
            s += p
        total += s
        d += n
    return float(F(math.sqrt(d / total)))


def z(kind: str, distribution: str, name: str, shape, seed: int, scale: float = 1.0, keep: float = 0.1, rank: int = 4,
      granule: int = 1):
    """The direction's values for one param (Direction::fill), flattened."""
    key = tensor_key(name)
    n = int(np.prod(shape))
    dist = "rademacher" if distribution == "rademacher" else "gaussian"
    if kind == "low-rank" and len(shape) == 2:
        m, cols = shape
        factor = F(float(F(scale)) / math.sqrt(rank))
        u = values(dist, seed, key, STREAMS["low_rank_u"], 0, m * rank).reshape(m, rank) * factor
        v = values(dist, seed, key, STREAMS["low_rank_v"], 0, cols * rank).reshape(cols, rank)
        acc = (u[:, 0:1] * v[None, :, 0]).astype(F)
        for k in range(1, rank):
            acc = fma(u[:, k : k + 1], v[None, :, k], acc)
        return acc.reshape(-1)
    if kind == "sparse":
        # Spans of 2048: positions pos += 1 + gap from the span's own mask words, counted in runs of
        # `granule` coordinates (a kept run keeps all of them); the j-th kept coordinate of span c
        # takes value element 2048 c + j.
        span = 2048
        units = span // granule
        s = F(float(F(scale)) / math.sqrt(keep))
        out = np.zeros(n, F)
        for c in range(0, (n + span - 1) // span):
            g = gaps(seed, key, STREAMS["mask"], c * span, units, keep).astype(np.int64)
            run = np.cumsum(g + 1) - 1
            run = run[run < units]
            pos = (run[:, None] * granule + np.arange(granule)[None, :]).reshape(-1)
            v = values(dist, seed, key, STREAMS["value"], c * span, len(pos)) * s
            inside = c * span + pos < n
            out[c * span + pos[inside]] = v[inside]
        return out
    raw = values(dist, seed, key, STREAMS["value"], 0, n)
    if F(scale) != F(1.0):
        return (raw * F(scale)).astype(F)
    return raw


def _selector_word(run_seed: int, index: int, purpose: int, i: int) -> int:
    return int(bits(derive_seed(run_seed, index, purpose), 0, STREAMS["selector"], i, 1)[0])


def _bounded(word: int, n: int) -> int:
    return (word * n) >> 32


def active_blocks(order: str, numels, run_seed: int, step: int, k: int, weights=None):
    """Direction::active_blocks for blocks of the given sizes."""
    num = len(numels)
    if order == "all":
        return list(range(num))
    if order == "cyclic":
        first = (step % num) * k % num
        return sorted((first + j) % num for j in range(k))
    if order == "permutation":
        epoch_steps = (num + k - 1) // k
        epoch, position = divmod(step, epoch_steps)
        seed = derive_seed(run_seed, epoch, 0x7065726D)
        perm = list(range(num))
        for i in range(num - 1, 0, -1):
            j = _bounded(int(bits(seed, 0, STREAMS["selector"], num - 1 - i, 1)[0]), i + 1)
            perm[i], perm[j] = perm[j], perm[i]
        return sorted(perm[position * k : min(position * k + k, num)])
    if order == "uniform":
        pool = list(range(num))
        picked = []
        for j in range(k):
            pick = j + _bounded(_selector_word(run_seed, step, 0x756E6966, j), num - j)
            pool[j], pool[pick] = pool[pick], pool[j]
            picked.append(pool[j])
        return sorted(picked)
    if order == "weighted":
        w = [float(x) for x in (weights if weights else numels)]
        picked = []
        for j in range(k):
            total = 0.0
            for x in w:
                total += x
            hi = _selector_word(run_seed, step, 0x77676874, 2 * j)
            lo = _selector_word(run_seed, step, 0x77676874, 2 * j + 1)
            target = float(((hi << 32) | lo) >> 11) * 2.0**-53 * total
            pick, cumulative = num, 0.0
            for b in range(num):
                if w[b] <= 0.0:
                    continue
                cumulative += w[b]
                pick = b
                if target < cumulative:
                    break
            picked.append(pick)
            w[pick] = 0.0
        return sorted(picked)
    raise ValueError(order)
