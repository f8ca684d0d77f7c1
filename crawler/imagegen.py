"""Real, decodable images from the standard library alone, deterministic in their seed.

Used for the demo site, the tests and the benchmark, so the project needs no image library
to make its own test data. Each encoder is the simplest one that a real decoder accepts:
PNG (zlib, filter 0), GIF (LZW with literal codes only), BMP (24-bit), and baseline JPEG
(grayscale; the picture is an 8x8-block pattern in the DC coefficients, and pseudo-random AC
coefficients add texture and steer the size without a forward DCT).
"""

from __future__ import annotations

import random
import struct
import zlib


def _pattern(x: int, y: int, seed: int) -> tuple[int, int, int]:
    return ((x * 7 + seed * 37) & 255, (y * 5 + seed * 91) & 255, ((x ^ y) * 3 + seed * 13) & 255)


def png(width: int, height: int, seed: int, *, noise: float = 0.0) -> bytes:
    rng = random.Random(seed)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            if noise and rng.random() < noise:
                rows += rng.randbytes(3)
            else:
                rows += bytes(_pattern(x, y, seed))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))


def gif(width: int, height: int, seed: int) -> bytes:
    rng = random.Random(seed)
    palette = rng.randbytes(256 * 3)
    pixels = [((x // 4 + y // 4 + seed) & 255) for y in range(height) for x in range(width)]
    clear, eoi = 256, 257
    bits, nbits, out = 0, 0, bytearray()

    def emit(code: int) -> None:
        nonlocal bits, nbits
        bits |= code << nbits
        nbits += 9
        while nbits >= 8:
            out.append(bits & 255)
            bits >>= 8
            nbits -= 8

    # Literal codes only, with a clear code often enough that the code width stays 9 bits.
    for i, p in enumerate(pixels):
        if i % 250 == 0:
            emit(clear)
        emit(p)
    emit(eoi)
    if nbits:
        out.append(bits & 255)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + out[i:i + 255] for i in range(0, len(out), 255))
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + palette
            + b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x08" + blocks + b"\x00;")


def bmp(width: int, height: int, seed: int) -> bytes:
    row_len = (width * 3 + 3) & ~3
    rows = bytearray()
    for y in reversed(range(height)):
        row = bytearray()
        for x in range(width):
            r, g, b = _pattern(x, y, seed)
            row += bytes((b, g, r))
        rows += row + b"\0" * (row_len - len(row))
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(rows), 0, 0, 54) + header + bytes(rows)


# --- baseline JPEG ------------------------------------------------------------------

_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALS = tuple(range(12))
_AC_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
_AC_VALS = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a43444546474849"
    "4a535455565758595a636465666768696a737475767778797a83848586878889"
    "8a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5"
    "c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8"
    "f9fa")


def _huffman_codes(bits, vals) -> dict[int, tuple[int, int]]:
    codes, code, k = {}, 0, 0
    for length, count in enumerate(bits, 1):
        for _ in range(count):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _huffman_codes(_DC_BITS, _DC_VALS)
_AC_CODES = _huffman_codes(_AC_BITS, _AC_VALS)


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value: int, length: int) -> None:
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 255
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self.acc &= (1 << self.n) - 1

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with one bits
        return bytes(self.out)


def _magnitude(v: int) -> tuple[int, int]:
    size = abs(v).bit_length()
    return size, (v if v >= 0 else v + (1 << size) - 1)


def jpeg(width: int, height: int, seed: int, *, texture: int = 0) -> bytes:
    """A grayscale baseline JPEG; `texture` (0-63) nonzero AC coefficients per block."""
    rng = random.Random(seed)
    bw, bh = (width + 7) // 8, (height + 7) // 8
    w = _BitWriter()
    prev = 0
    texture = max(0, min(63, texture))
    for by in range(bh):
        for bx in range(bw):
            level = _pattern(bx * 8, by * 8, seed)[(bx + by) % 3]
            dc = 8 * (level - 128)  # with a quantiser of 1, DC = 8 x (block mean - 128)
            size, bits = _magnitude(dc - prev)
            prev = dc
            code, length = _DC_CODES[size]
            w.write(code, length)
            if size:
                w.write(bits, size)
            run = 0
            positions = set(rng.sample(range(1, 64), texture)) if texture else ()
            for k in range(1, 64):
                if k not in positions:
                    run += 1
                    continue
                v = rng.choice((-1, 1)) * rng.randint(1, 40)
                while run > 15:
                    code, length = _AC_CODES[0xF0]
                    w.write(code, length)
                    run -= 16
                size, bits = _magnitude(v)
                code, length = _AC_CODES[(run << 4) | size]
                w.write(code, length)
                w.write(bits, size)
                run = 0
            if run:
                code, length = _AC_CODES[0x00]
                w.write(code, length)
    scan = w.flush()

    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(data) + 2) + data

    return (b"\xff\xd8"
            + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + segment(0xDB, b"\x00" + b"\x01" * 64)
            + segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
            + segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS))
            + segment(0xC4, b"\x10" + bytes(_AC_BITS) + _AC_VALS)
            + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
            + scan + b"\xff\xd9")


def image_of_size(kind: str, target_bytes: int, seed: int) -> bytes:
    """An image of `kind` (jpeg, png, gif) about target_bytes long (within about 25 %)."""
    if kind == "gif":
        pixels = max(64, int((target_bytes - 820) / 1.13))
        side = max(8, int(pixels ** 0.5))
        return gif(side, max(8, pixels // side), seed)
    if kind == "png":
        # the size grows with the area; two corrections of the side land within a few percent
        side = max(8, int((target_bytes / 3) ** 0.5))
        for _ in range(2):
            data = png(side, side, seed, noise=0.5)
            side = max(8, int(side * (target_bytes / len(data)) ** 0.5))
        return png(side, side, seed, noise=0.5)
    if kind == "jpeg":
        texture = 24  # about 2 bytes per nonzero coefficient
        blocks = max(1, int(target_bytes / (texture * 2.05 + 1)))
        bw = max(1, int(blocks ** 0.5))
        bh = max(1, blocks // bw)
        return jpeg(bw * 8, bh * 8, seed, texture=texture)
    raise ValueError(f"unknown image kind {kind!r}")
