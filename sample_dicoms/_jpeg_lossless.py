"""A small deterministic JPEG Lossless encoder (ITU T.81 process 14, selection value 1).

pydicom has no encoder for JPEG Lossless, Non-Hierarchical, First-Order
Prediction (transfer syntax 1.2.840.10008.1.2.4.70), so the phantoms encode it
here, with numpy only:

* SOF3 frame header, one component, precision = BitsStored (2..16).
* Predictor 1 (Ra, the sample to the left); the first sample of the image is
  predicted by 2**(P - 1), the first sample of every other row by the sample
  above (T.81 H.1.1).  Point transform 0 (lossless).
* One optimal Huffman table per frame, code lengths limited to 16 bits by the
  procedure of T.81 Annex K.2 (Figures K.1-K.3).
* Byte stuffing (0xFF -> 0xFF 0x00) in the entropy-coded segment.

The output decodes bit-exactly with pylibjpeg-libjpeg (tested in
``tests/test_sample_data.py``).
"""

from __future__ import annotations

import struct

import numpy as np


def _differences(frame: np.ndarray, precision: int) -> np.ndarray:
    """Prediction differences (T.81 H.1.2.1) for predictor 1, as int64 in [-32767, 32768]."""
    x = frame.astype(np.int64)
    pred = np.empty_like(x)
    pred[:, 1:] = x[:, :-1]  # Ra
    pred[1:, 0] = x[:-1, 0]  # Rb for the first column
    pred[0, 0] = 1 << (precision - 1)
    diff = (x - pred) % 65536
    return np.where(diff > 32768, diff - 65536, diff).ravel()


def _category(diff: np.ndarray) -> np.ndarray:
    """SSSS: number of bits needed for |diff| (0 for 0, 16 for 32768)."""
    mag = np.abs(diff)
    ssss = np.zeros(mag.shape, np.int64)
    nz = mag > 0
    ssss[nz] = np.floor(np.log2(mag[nz])).astype(np.int64) + 1
    return ssss


def _code_lengths(freq: np.ndarray) -> np.ndarray:
    """Huffman code sizes for symbols 0..16 (T.81 K.2, Figures K.1 and K.2), limited to 16."""
    freq = [int(f) for f in freq] + [1]  # symbol 17 = reserved so that no code is all ones
    n = len(freq)
    codesize = [0] * n
    others = [-1] * n
    while True:
        live = [i for i in range(n) if freq[i] > 0]
        if len(live) < 2:
            break
        # v1: least frequent (largest index on ties), v2: next least frequent
        v1 = min(live, key=lambda i: (freq[i], -i))
        v2 = min((i for i in live if i != v1), key=lambda i: (freq[i], -i))
        freq[v1] += freq[v2]
        freq[v2] = 0
        codesize[v1] += 1
        while others[v1] != -1:
            v1 = others[v1]
            codesize[v1] += 1
        others[v1] = v2
        codesize[v2] += 1
        while others[v2] != -1:
            v2 = others[v2]
            codesize[v2] += 1
    bits = [0] * 33
    for size in codesize:
        if size:
            bits[size] += 1
    # Figure K.3: adjust so that no code is longer than 16 bits
    i = 32
    while i > 16:
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
        i -= 1
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # remove the reserved code point
    # assign sizes to symbols in order of decreasing frequency (K.2: sorted by code size)
    order = sorted(range(n - 1), key=lambda s: (codesize[s] == 0, codesize[s], s))
    lengths = np.zeros(17, np.int64)
    k = 0
    for size in range(1, 17):
        for _ in range(bits[size]):
            lengths[order[k]] = size
            k += 1
    return lengths


def _canonical_codes(lengths: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """BITS (counts per length), HUFFVAL (symbols by length) and code per symbol (T.81 C.2)."""
    symbols = sorted((int(s) for s in np.nonzero(lengths)[0]), key=lambda s: (lengths[s], s))
    counts = [int((lengths == size).sum()) for size in range(1, 17)]
    codes = np.zeros(17, np.int64)
    code, prev = 0, int(lengths[symbols[0]])
    for s in symbols:
        code <<= int(lengths[s]) - prev
        prev = int(lengths[s])
        codes[s] = code
        code += 1
    return counts, symbols, codes


def _pack_bits(values: np.ndarray, nbits: np.ndarray) -> bytes:
    """Concatenate ``values`` (each ``nbits`` wide, MSB first), pad with 1s, byte-stuff."""
    width = 32
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bitmat = ((values[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
    keep = np.arange(width)[None, :] >= (width - nbits)[:, None]
    bits = bitmat[keep]
    pad = (-len(bits)) % 8
    bits = np.concatenate([bits, np.ones(pad, np.uint8)])
    data = np.packbits(bits)
    ff = np.nonzero(data == 0xFF)[0]
    return np.insert(data, ff + 1, 0).tobytes()


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def encode_frame(frame: np.ndarray, precision: int) -> bytes:
    """Encode one (rows, cols) unsigned frame with values < 2**precision as a JPEG Lossless SV1 stream."""
    if frame.ndim != 2 or not 2 <= precision <= 16:
        raise ValueError("encode_frame needs a 2-D frame and 2 <= precision <= 16")
    if int(frame.max()) >= 1 << precision or int(frame.min()) < 0:
        raise ValueError(f"frame values must be in [0, 2**{precision})")
    rows, cols = frame.shape
    diff = _differences(frame, precision)
    ssss = _category(diff)
    lengths = _code_lengths(np.bincount(ssss, minlength=17))
    counts, huffval, codes = _canonical_codes(lengths)
    # additional bits: low SSSS bits of diff (positive) or of diff - 1 (negative)
    extra = np.where(diff < 0, diff - 1, diff) & ((1 << ssss) - 1)
    extra = np.where(ssss == 16, 0, extra)
    nextra = np.where(ssss == 16, 0, ssss)
    values = (codes[ssss] << nextra) | extra
    nbits = lengths[ssss] + nextra
    out = [b"\xff\xd8"]
    out.append(_segment(0xFFC3, struct.pack(">BHHB", precision, rows, cols, 1) + bytes([1, 0x11, 0])))
    out.append(_segment(0xFFC4, bytes([0x00]) + bytes(counts) + bytes(huffval)))
    out.append(_segment(0xFFDA, bytes([1, 1, 0x00, 1, 0, 0])))  # Ns, Cs/Td:Ta, Ss=predictor 1, Se, Ah:Al
    out.append(_pack_bits(values, nbits))
    out.append(b"\xff\xd9")
    return b"".join(out)
