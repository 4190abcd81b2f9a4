"""Real-size gzipped FITS cutouts, unique per alert, made fast.

A ZTF stamp is a gzipped 63x63 float32 FITS file (20 160 bytes, 8-15 KB gzipped). Compressing
three noise images per alert would dominate the build time, so each stamp is TWO gzip members
(a gzip file may hold several; gzip/astropy read them as one stream):

1. a small *stored* (uncompressed) deflate member with the first FITS header cards, which
   carry the alert's candid/objectId: unique bytes per alert (Parquet cannot dedupe them);
2. a pre-compressed member drawn from a seeded bank: the rest of the header (END, padding)
   and the 63x63 image data (sky + noise, plus a point source for science/difference).
"""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np

STAMP = 63
KINDS = ("sci", "ref", "diff")
_HEAD_CARDS = 10  # cards carried by the unique member (multiple of nothing: split at a card boundary)


def _card(key: str, value: str) -> bytes:
    """One 80-char card: strings start at column 11, other values are right-aligned to column 30."""
    text = f"{key:<8}= {value:<20}" if value.startswith("'") else f"{key:<8}= {value:>20}"
    return text.ljust(80).encode("ascii")


def _fixed_cards() -> bytes:
    return b"".join([
        _card("SIMPLE", "T"), _card("BITPIX", "-32"), _card("NAXIS", "2"),
        _card("NAXIS1", str(STAMP)), _card("NAXIS2", str(STAMP)), _card("BUNIT", "'DN      '"),
    ])


_FIXED = _fixed_cards()


def _tail_and_data(image: np.ndarray) -> bytes:
    """Cards after the unique ones (END + blanks up to 2880) and the padded big-endian data."""
    end = b"END".ljust(80)
    header_rest = end + b" " * (2880 - 80 * _HEAD_CARDS - 80)
    data = image.astype(">f4").tobytes()
    data += b"\0" * (-len(data) % 2880)
    return header_rest + data


def _stored_member(payload: bytes) -> bytes:
    """A gzip member holding ``payload`` in one stored deflate block (no compression cost)."""
    assert len(payload) < 65536
    n = len(payload)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
            + struct.pack("<BHH", 1, n, n ^ 0xFFFF) + payload
            + struct.pack("<II", zlib.crc32(payload) & 0xFFFFFFFF, n))


class StampBank:
    """Pre-compressed tails (header end + image) per cutout kind, drawn by index."""

    def __init__(self, seed: int, size: int = 96):
        rng = np.random.default_rng([seed, 424242])
        yy, xx = np.mgrid[:STAMP, :STAMP] - STAMP // 2
        psf = np.exp(-(xx ** 2 + yy ** 2) / (2 * 1.8 ** 2))
        self.size = size
        self.members: dict[str, list[bytes]] = {}
        for kind in KINDS:
            out = []
            for _ in range(size):
                sky = rng.uniform(120, 400) if kind != "diff" else 0.0
                noise = rng.uniform(4, 7) if kind != "ref" else rng.uniform(2, 4)
                img = sky + rng.normal(0, noise, (STAMP, STAMP))
                if kind != "ref" or rng.random() < 0.5:
                    img += psf * rng.uniform(50, 3000) * (1 if kind != "diff" or rng.random() < 0.6 else -1)
                out.append(gzip.compress(_tail_and_data(img), compresslevel=6, mtime=0))
            self.members[kind] = out

    def stamp(self, kind: str, index: int, unique_cards: bytes) -> bytes:
        head = _FIXED + unique_cards
        return _stored_member(head) + self.members[kind][index % self.size]


def unique_cards(object_id: str, candid: int, kind: str, jd: float) -> bytes:
    """The per-alert cards (4 of them, so 6 fixed + 4 = the unique member's 10 cards)."""
    return (_card("OBJECT", f"'{object_id}'") + _card("CANDID", str(candid))
            + _card("STAMPTYP", f"'{kind:<8}'") + _card("OBSJD", f"{jd:.6f}"))


def file_names(candid: int, pid: int) -> tuple[str, str, str]:
    return (f"candid{candid}_pid{pid}_targ_sci.fits.gz", f"candid{candid}_ref.fits.gz",
            f"candid{candid}_pid{pid}_targ_scimref.fits.gz")
