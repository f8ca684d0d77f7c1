"""Real, decodable images from the standard library alone, deterministic in their seed.

Used for the demo site, the tests and the benchmark, so the project needs no image library to
make its own test data. Every format draws the same picture, `pattern_rgb(w, h, seed)`: three
colour channels, each a triangle wave along x, y, x+y, x-y, 2x or 2y (picked by the seed, with
a seed phase), so the picture is smooth and repeats every 64 pixels both ways.

- PNG: RGB 8-bit, filter 0, zlib; `noise` replaces that fraction of pixels by random ones.
- GIF: GIF89a, 256-colour palette (the pattern on a 16x16 grid of 4-pixel cells), an LZW
  stream of literal codes with a clear code every 250 codes, so codes stay 9 bits wide.
- BMP: 24-bit, BITMAPINFOHEADER, bottom-up rows.
- JPEG: baseline, JFIF, YCbCr 4:4:4, the Annex K Huffman tables, IJG quality-scaled Annex K
  quantisation tables, a real (separable, orthonormal) forward DCT. Because the pattern
  repeats, its block transforms are memoised; `noise` adds pseudo-random values to that
  fraction of pixels (blocks drawn from a memoised pool, transformed once; the DCT is linear,
  so the coefficients of pattern + noise are the sum of both).

`image_of_size(kind, target, seed)` steers dimensions (and noise) so the file is within a few
per cent of the target; deterministic in its arguments.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections.abc import Iterator
from functools import cache, lru_cache
from itertools import compress
from operator import add, mul

__all__ = ["pattern_rgb", "png", "gif", "jpeg", "bmp", "image_of_size"]

_PERIOD = 64
# channel directions (ax, ay): a channel is T(ax*x + ay*y + phase)
_DIRECTIONS = ((1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2))
# triangle wave, period 64, values 16..240, slope 7 per step
_T = tuple(16 + 7 * abs(v - 32) for v in range(_PERIOD))


@lru_cache(maxsize=64)
def _channels(seed: int) -> tuple[tuple[int, int, int], ...]:
    """Three (ax, ay, phase) channel definitions for a seed."""
    rng = random.Random(f"pattern-{seed}")
    dirs = rng.sample(_DIRECTIONS, 3)
    return tuple((ax, ay, rng.randrange(_PERIOD)) for ax, ay in dirs)


@lru_cache(maxsize=64)
def _tile_rows(seed: int) -> tuple[bytes, ...]:
    """The 64x64 RGB tile of the pattern, as 64 rows of 192 bytes."""
    chans = _channels(seed)
    rows = []
    for y in range(_PERIOD):
        row = bytearray(3 * _PERIOD)
        for c, (ax, ay, p) in enumerate(chans):
            base = ay * y + p
            row[c::3] = bytes(_T[(ax * x + base) & 63] for x in range(_PERIOD))
        rows.append(bytes(row))
    return tuple(rows)


def _pattern_row(y: int, width: int, seed: int) -> bytes:
    tile = _tile_rows(seed)[y & 63]
    return (tile * (width // _PERIOD + 1))[:3 * width]


def pattern_rgb(width: int, height: int, seed: int) -> bytes:
    """The picture every encoder draws: row-major RGB bytes."""
    return b"".join(_pattern_row(y, width, seed) for y in range(height))


def _check_size(width: int, height: int) -> None:
    if not (1 <= width <= 65535 and 1 <= height <= 65535):
        raise ValueError(f"bad image size {width}x{height}")


# --- PNG ---------------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, seed: int, *, noise: float = 0.0) -> bytes:
    """An RGB 8-bit PNG of the pattern; `noise` (0..1) of the pixels replaced by random ones."""
    _check_size(width, height)
    pixels = pattern_rgb(width, height, seed)
    threshold = round(max(0.0, min(1.0, noise)) * 256)
    if threshold:
        # per pixel: keep the pattern where its mask byte >= threshold, else take random bytes
        rng = random.Random(seed)
        n = width * height
        values = rng.randbytes(3 * n)
        pick = rng.randbytes(n).translate(bytes(255 if m < threshold else 0 for m in range(256)))
        mask = bytearray(3 * n)
        mask[0::3] = mask[1::3] = mask[2::3] = pick
        m = int.from_bytes(mask, "big")
        mixed = (int.from_bytes(pixels, "big") & ~m) | (int.from_bytes(values, "big") & m)
        pixels = mixed.to_bytes(3 * n, "big")
    stride = 3 * width
    raw = b"".join(b"\0" + pixels[i:i + stride] for i in range(0, len(pixels), stride))
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw, 6))
            + _png_chunk(b"IEND", b""))


# --- GIF ---------------------------------------------------------------------------------

_GIF_CLEAR, _GIF_EOI, _GIF_RUN = 256, 257, 250
_GIF_BITS = tuple(format(c, "09b")[::-1] for c in range(512))  # LSB first


def _gif_palette(seed: int) -> bytes:
    """Colour of index (cy << 4 | cx): the pattern at the centre of 4-pixel cell (cx, cy)."""
    tile = _tile_rows(seed)
    out = bytearray()
    for cy in range(16):
        row = tile[cy * 4 + 2]
        for cx in range(16):
            out += row[3 * (cx * 4 + 2):3 * (cx * 4 + 2) + 3]
    return bytes(out)


def _gif_lzw(indices: bytes) -> bytes:
    """A valid GIF LZW stream (min code size 8) of literal codes only."""
    parts = []
    for i in range(0, len(indices), _GIF_RUN):
        parts.append(_GIF_BITS[_GIF_CLEAR])
        parts.extend(map(_GIF_BITS.__getitem__, indices[i:i + _GIF_RUN]))
    parts.append(_GIF_BITS[_GIF_EOI])
    bits = "".join(parts)
    bits += "0" * (-len(bits) % 8)
    # bit k of the stream is bit k of the little-endian number
    return int(bits[::-1], 2).to_bytes(len(bits) // 8, "little")


def gif(width: int, height: int, seed: int) -> bytes:
    """A GIF89a of the pattern, posterised to a 256-colour palette."""
    _check_size(width, height)
    cx = bytes(((x & 63) >> 2) for x in range(_PERIOD))
    rows = []
    for y in range(height):
        hi = ((y & 63) >> 2) << 4
        row = bytes(hi | c for c in cx)
        rows.append((row * (width // _PERIOD + 1))[:width])
    data = _gif_lzw(b"".join(rows))
    blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255))
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + _gif_palette(seed)
            + b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x08" + blocks + b"\x00;")


def _gif_size(pixels: int) -> int:
    codes = pixels + -(-pixels // _GIF_RUN) + 1
    n = -(-9 * codes // 8)
    return 13 + 768 + 10 + 1 + n + -(-n // 255) + 1 + 1


# --- BMP ---------------------------------------------------------------------------------

def bmp(width: int, height: int, seed: int) -> bytes:
    """A 24-bit BMP (BITMAPINFOHEADER, bottom-up) of the pattern."""
    _check_size(width, height)
    pad = b"\0" * (-3 * width % 4)
    rows = []
    for y in reversed(range(height)):
        rgb = _pattern_row(y, width, seed)
        bgr = bytearray(rgb)
        bgr[0::3], bgr[2::3] = rgb[2::3], rgb[0::3]
        rows.append(bytes(bgr) + pad)
    pixels = b"".join(rows)
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 54) + header + pixels


# --- baseline JPEG -------------------------------------------------------------------------

# Annex K.1: quantisation tables, natural (row-major) order
_Q_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
           14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
           18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
           49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_Q_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
             24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
             *([99] * 32))
# zigzag position k -> natural index
_ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
           12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
           35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
           58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63)

# Annex K.3: the typical Huffman tables (code-length counts, values)
_DC_LUMA = ((0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0), bytes(range(12)))
_DC_CHROMA = ((0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0), bytes(range(12)))
_AC_LUMA = ((0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D), bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a43444546474849"
    "4a535455565758595a636465666768696a737475767778797a83848586878889"
    "8a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5"
    "c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8"
    "f9fa"))
_AC_CHROMA = ((0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77), bytes.fromhex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0"
    "156272d10a162434e125f11718191a262728292a35363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a828384858687"
    "88898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3"
    "c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8"
    "f9fa"))

_MAX_AC = 1023  # largest AC magnitude the tables code (size category 10)

# orthonormal 8-point DCT-II: F = M f M^T equals JPEG's 1/4 C(u) C(v) sum sum f cos cos
_DCT = tuple(tuple((math.sqrt(1 / 8) if u == 0 else 0.5) * math.cos((2 * x + 1) * u * math.pi / 16)
                   for x in range(8)) for u in range(8))


def _fdct(block: list[float]) -> list[float]:
    """2-D DCT of 64 samples (row-major); the result in zigzag order."""
    rows = [block[8 * y:8 * y + 8] for y in range(8)]
    tmp = [[sum(map(mul, m, r)) for m in _DCT] for r in rows]          # tmp[y][u]
    cols = list(zip(*tmp, strict=True))                                  # cols[u][y]
    out = [0.0] * 64
    for u, col in enumerate(cols):
        for v, m in enumerate(_DCT):
            out[8 * v + u] = sum(map(mul, m, col))
    return [out[i] for i in _ZIGZAG]


def _huffman(table) -> dict[int, str]:
    bits, vals = table
    codes, code, k = {}, 0, 0
    for length, count in enumerate(bits, 1):
        for _ in range(count):
            codes[vals[k]] = format(code, f"0{length}b")
            code += 1
            k += 1
        code <<= 1
    return codes


def _magnitude_bits(v: int) -> tuple[int, str]:
    size = abs(v).bit_length()
    if not size:
        return 0, ""
    return size, format(v if v > 0 else v + (1 << size) - 1, f"0{size}b")


@cache
def _coders(chroma: bool):
    """(dc strings indexed by diff + 2047, ac strings [run][v + 1023], ZRL, EOB) for a component."""
    dc = _huffman(_DC_CHROMA if chroma else _DC_LUMA)
    ac = _huffman(_AC_CHROMA if chroma else _AC_LUMA)
    dc_strings = []
    for d in range(-2047, 2048):
        size, bits = _magnitude_bits(d)
        dc_strings.append(dc[size] + bits)
    mags = [_magnitude_bits(v) for v in range(-_MAX_AC, _MAX_AC + 1)]
    ac_strings = [[ac[(run << 4) | size] + bits if size else "" for size, bits in mags] for run in range(16)]
    return tuple(dc_strings), tuple(tuple(r) for r in ac_strings), ac[0xF0], ac[0x00]


@lru_cache(maxsize=32)
def _quant(quality: int) -> tuple[bytes, bytes]:
    """IJG-scaled luma and chroma tables (natural order) for a quality 1..100."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    luma, chroma = (bytes(max(1, min(255, (q * scale + 50) // 100)) for q in t) for t in (_Q_LUMA, _Q_CHROMA))
    return luma, chroma


@cache
def _channel_block(ax: int, ay: int, s: int) -> tuple[float, ...]:
    """DCT (zigzag) of the 8x8 block T(ax*i + ay*j + s), i across, j down."""
    return tuple(_fdct([float(_T[(ax * i + ay * j + s) & 63]) for j in range(8) for i in range(8)]))


@lru_cache(maxsize=16)
def _noise_pool(level: float, size: int = 64) -> tuple[tuple[tuple[float, ...], ...], ...]:
    """Per component, `size` transformed blocks of additive noise on `level` of the pixels."""
    rng = random.Random(f"noise-{level}")
    pools = []
    for amplitude in (110, 60, 60):
        pool = []
        for _ in range(size):
            pixels = [rng.uniform(-amplitude, amplitude) if rng.random() < level else 0.0 for _ in range(64)]
            pool.append(tuple(_fdct(pixels)))
        pools.append(tuple(pool))
    return tuple(pools)


# JFIF colour conversion: (R, G, B) weights and constant (with the -128 level shift) per component
_YCC = (((0.299, 0.587, 0.114), -128.0),
        ((-0.168736, -0.331264, 0.5), 0.0),
        ((0.5, -0.418688, -0.081312), 0.0))


def _segment(marker: int, data: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(data) + 2) + data


def _dht(cls_id: int, table) -> bytes:
    return bytes([cls_id]) + bytes(table[0]) + table[1]


def jpeg(width: int, height: int, seed: int, *, quality: int = 75, noise: float = 0.0) -> bytes:
    """A baseline JFIF JPEG (YCbCr 4:4:4) of the pattern.

    `noise` (0..1): that fraction of the pixels gets a pseudo-random offset (the decoder
    clamps to 0..255), which steers the compressed size.
    """
    _check_size(width, height)
    quality = max(1, min(100, int(quality)))
    noise = round(max(0.0, min(1.0, noise)), 3)
    qtables = _quant(quality)
    inv = [tuple(1.0 / qtables[t][i] for i in _ZIGZAG) for t in (0, 1, 1)]
    coders = [_coders(False), _coders(True), _coders(True)]
    chans = _channels(seed)
    rng = random.Random(seed)

    # pattern coefficients (zigzag, divided by the quantiser) per component, memoised by the
    # channel phases; without noise, the block's quantised DC and its coded AC bits too
    pattern_cache: dict[tuple[int, ...], list[list[float]]] = {}
    coded_cache: dict[tuple[int, ...], list[tuple[int, str]]] = {}

    def pattern_coeffs(key: tuple[int, ...]) -> list[list[float]]:
        hit = pattern_cache.get(key)
        if hit is None:
            blocks = [_channel_block(ax, ay, s) for (ax, ay, _), s in zip(chans, key, strict=True)]
            hit = []
            for ((wr, wg, wb), const), iq in zip(_YCC, inv, strict=True):
                coeffs = [wr * r + wg * g + wb * b for r, g, b in zip(*blocks, strict=True)]
                coeffs[0] += 8 * const
                hit.append(list(map(mul, coeffs, iq)))
            pattern_cache[key] = hit
        return hit

    def ac_bits(q: list[int], ac_strings, zrl: str, eob: str) -> str:
        out, last = [], 0
        for k in compress(range(64), q):
            if k:
                run = k - last - 1
                while run > 15:
                    out.append(zrl)
                    run -= 16
                out.append(ac_strings[run][q[k] + _MAX_AC])
                last = k
        if last != 63:
            out.append(eob)
        return "".join(out)

    def quantised(coeffs) -> list[int]:
        q = list(map(round, coeffs))
        if max(q) > _MAX_AC or min(q) < -_MAX_AC:
            q = [max(-_MAX_AC, min(_MAX_AC, v)) for v in q]
        return q

    if noise:
        pools = [[list(map(mul, block, iq)) for block in pool]
                 for pool, iq in zip(_noise_pool(noise), inv, strict=True)]
    parts: list[str] = []
    append = parts.append
    prev = [0, 0, 0]
    bw, bh = (width + 7) // 8, (height + 7) // 8
    picks: Iterator[int] = iter(rng.randbytes(3 * bw * bh)) if noise else iter(())
    for by in range(bh):
        for bx in range(bw):
            x0, y0 = 8 * bx, 8 * by
            key = tuple((ax * x0 + ay * y0 + p) & 63 for ax, ay, p in chans)
            if not noise:
                coded = coded_cache.get(key)
                if coded is None:
                    coded = []
                    for c, coeffs in enumerate(pattern_coeffs(key)):
                        q = quantised(coeffs)
                        coded.append((q[0], ac_bits(q, *coders[c][1:])))
                    coded_cache[key] = coded
                for c, (dc, bits) in enumerate(coded):
                    append(coders[c][0][dc - prev[c] + 2047])
                    prev[c] = dc
                    append(bits)
                continue
            for c, coeffs in enumerate(pattern_coeffs(key)):
                q = quantised(map(add, coeffs, pools[c][next(picks) & 63]))
                dc_strings, ac_strings, zrl, eob = coders[c]
                append(dc_strings[q[0] - prev[c] + 2047])
                prev[c] = q[0]
                last = 0
                for k in compress(range(64), q):
                    if k:
                        run = k - last - 1
                        while run > 15:
                            append(zrl)
                            run -= 16
                        append(ac_strings[run][q[k] + _MAX_AC])
                        last = k
                if last != 63:
                    append(eob)
    bits = "".join(parts)
    bits += "1" * (-len(bits) % 8)  # pad with one bits
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")

    return (b"\xff\xd8"
            + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + _segment(0xDB, b"\x00" + bytes(qtables[0][i] for i in _ZIGZAG)
                       + b"\x01" + bytes(qtables[1][i] for i in _ZIGZAG))
            + _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01")
            + _segment(0xC4, _dht(0x00, _DC_LUMA) + _dht(0x10, _AC_LUMA)
                       + _dht(0x01, _DC_CHROMA) + _dht(0x11, _AC_CHROMA))
            + _segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
            + scan + b"\xff\xd9")


# --- size steering -------------------------------------------------------------------------

_ASPECTS = ((1, 1), (4, 3), (3, 2), (16, 9), (3, 4), (2, 3))


def _dims(pixels: float, aspect: tuple[int, int]) -> tuple[int, int]:
    aw, ah = aspect
    w = max(8, round(math.sqrt(pixels * aw / ah)))
    h = max(8, round(pixels / w))
    return w, h


@cache
def _jpeg_rates(quality: int, noise: float) -> tuple[int, float]:
    """(bytes of headers, bytes per 8x8 block) of the JPEG encoder at this quality and noise."""
    header = len(jpeg(8, 8, 0, quality=quality))
    probe = jpeg(128, 128, 0, quality=quality, noise=noise)
    return header, (len(probe) - header) / 256


def image_of_size(kind: str, target_bytes: int, seed: int) -> bytes:
    """An image of `kind` (jpeg, png, gif) about target_bytes long (within a few per cent; at
    worst 25 %), its dimensions and noise picked from the seed and the target. Deterministic."""
    rng = random.Random(f"{kind}-{target_bytes}-{seed}")
    aspect = rng.choice(_ASPECTS)
    target = max(1, int(target_bytes))
    if kind == "gif":
        lo, hi = 64, 65535 * 64
        while lo < hi:  # the GIF size is a closed formula of the pixel count
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if _gif_size(mid) <= target else (lo, mid - 1)
        w, h = _dims(lo, aspect)
        return gif(w, h, seed)
    if kind == "png":
        noise = rng.choice((0.3, 0.4, 0.5, 0.6))
        area = max(64.0, (target - 100) / (3.05 * noise))
        data = b""
        for _ in range(3):
            w, h = _dims(area, aspect)
            data = png(w, h, seed, noise=noise)
            if abs(len(data) - target) <= 0.03 * target:
                break
            area = max(64.0, area * (target - 60) / max(1, len(data) - 60))
        return data
    if kind == "jpeg":
        quality = rng.choice((80, 85, 90, 95))
        noise = rng.choice((0.5, 0.75, 1.0))
        header, per_block = _jpeg_rates(quality, noise)
        blocks = max(1.0, (target - header) / per_block)
        data = b""
        for _ in range(3):
            aw, ah = aspect
            bw = max(1, round(math.sqrt(blocks * aw / ah)))
            bh = max(1, round(blocks / bw))
            data = jpeg(8 * bw, 8 * bh, seed, quality=quality, noise=noise)
            if abs(len(data) - target) <= 0.08 * target:
                break
            blocks = max(1.0, blocks * max(1, target - header) / max(1, len(data) - header))
        return data
    raise ValueError(f"unknown image kind {kind!r}")
