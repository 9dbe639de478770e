"""Font files loaded at run time: MAX7456 ``.mcm`` and PNG/BMP glyph sheets.

The files (Betaflight, INAV, msp-osd, Walksnail, HDZero fonts) are GPL or unlicensed, so the
project never ships them: the caller passes a folder. Every loader returns an ``OSDFont``
whose glyphs are **straight-alpha** RGBA uint8 arrays ``[N, gh, gw, 4]`` indexed by the
firmware's own character code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .symbols import INAV_FROM_BF

MCM_H, MCM_W = 18, 12
# 2-bit MAX7456 pixels -> RGBA: 00 black, 10 white, 01 and 11 transparent.
_MCM_LUT = np.array([[0, 0, 0, 255], [0, 0, 0, 0], [255, 255, 255, 255], [0, 0, 0, 0]], np.uint8)
# Glyph sizes named in the file name (OSD_CONVENTIONS.md): suffix -> (gh, gw).
_NAMED_SIZES = {"_hd": (36, 24), "_24": (36, 24), "_36": (54, 36), "_1440p": (72, 48), "_2160p": (108, 72)}


@dataclass
class OSDFont:
    """A glyph table. ``family`` picks the code map: betaflight, inav or ascii (text only)."""

    name: str
    glyphs: np.ndarray  # uint8 [N, gh, gw, 4], straight alpha
    family: str = "betaflight"

    @property
    def size(self) -> tuple[int, int]:
        """Native glyph (height, width)."""
        return self.glyphs.shape[1], self.glyphs.shape[2]

    def glyph(self, bf_code: int) -> np.ndarray | None:
        """The glyph for a BF-space code, or None if this font lacks it (blank or unmapped)."""
        code = _to_family(bf_code, self.family)
        if code is None or code >= len(self.glyphs) or not self.glyphs[code, ..., 3].any():
            return None
        return self.glyphs[code]


def _to_family(bf_code: int, family: str) -> int | None:
    """Translate a BF-space code; ASCII text passes through, unknown symbols give None."""
    is_text = 0x20 <= bf_code < 0x60
    if family == "betaflight":
        return bf_code
    if family == "inav":
        return INAV_FROM_BF.get(bf_code, bf_code if is_text else None)
    return bf_code if is_text else None


def parse_mcm(text: str) -> np.ndarray:
    """Decode MAX7456 ``.mcm`` text to RGBA uint8 [N, 18, 12, 4].

    Line 1 is ``MAX7456``; then one byte per line as 8 binary digits; 64 bytes per glyph,
    the first 54 hold 18 rows x 12 px at 2 bits per pixel, MSB first.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != "MAX7456":
        raise ValueError("not a MAX7456 .mcm file (first line must be 'MAX7456')")
    n = (len(lines) - 1) // 64
    if n == 0:
        raise ValueError("MAX7456 .mcm file holds no complete glyph")
    body = lines[1 : 1 + 64 * n]
    if any(len(ln) != 8 for ln in body):
        raise ValueError("MAX7456 .mcm lines must be 8 binary digits")
    bits = (np.frombuffer("".join(body).encode(), np.uint8) == ord("1")).reshape(-1, 8)
    data = np.packbits(bits, axis=1)[:, 0].reshape(n, 64)[:, :54]  # [N, 54] bytes
    shifts = np.array([6, 4, 2, 0], np.uint8)  # four pixels per byte, MSB first
    px = (data[:, :, None] >> shifts) & 3  # [N, 54, 4]
    return _MCM_LUT[px.reshape(n, MCM_H, MCM_W)]


def load_mcm(path: Path) -> OSDFont:
    """Load a ``.mcm`` file; 512-glyph files are INAV, 256-glyph files Betaflight."""
    glyphs = parse_mcm(Path(path).read_text(errors="replace"))
    family = "inav" if len(glyphs) > 256 or "inav" in str(path).lower() else "betaflight"
    return OSDFont(Path(path).stem, glyphs, family)


def sheet_glyph_size(name: str, height: int, width: int) -> tuple[int, int]:
    """Glyph (gh, gw) of a vertical-strip sheet: from the file name, else 256 rows per page."""
    stem = Path(name).stem.lower()
    for suffix, size in _NAMED_SIZES.items():
        if stem.endswith(suffix):
            return size
    gh = height // 256
    return gh, (gh * 2) // 3


def parse_png_sheet(rgba: np.ndarray, glyph_size: tuple[int, int]) -> np.ndarray:
    """Split a vertical-strip sheet (one 256-glyph page per column) into [N, gh, gw, 4].

    Code ``page * 256 + row``. Rows past 256 per page (Walksnail's 257th) are dropped.
    """
    gh, gw = glyph_size
    rows, pages = min(rgba.shape[0] // gh, 256), rgba.shape[1] // gw
    if rows == 0 or pages == 0:
        raise ValueError(f"sheet {rgba.shape[1]}x{rgba.shape[0]} smaller than one {gw}x{gh} glyph")
    g = rgba[: rows * gh, : pages * gw].reshape(rows, gh, pages, gw, 4)
    return np.ascontiguousarray(g.transpose(2, 0, 1, 3, 4).reshape(pages * rows, gh, gw, 4))


def _read_rgba(path: Path) -> np.ndarray:
    """Read an image file as RGBA uint8 (files without alpha become opaque)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def _family_from_name(path: Path) -> str:
    name = str(path).lower()
    if "inav" in name:
        return "inav"
    if "btfl" in name or "_bf" in name or Path(name).stem in ("font", "font_hd"):
        return "betaflight"
    return "ascii"  # ArduPilot, KISS Ultra, Quicksilver: other symbol maps, use text only


def load_png_sheet(path: Path) -> OSDFont:
    """Load an msp-osd / Walksnail vertical-strip PNG font."""
    rgba = _read_rgba(Path(path))
    glyphs = parse_png_sheet(rgba, sheet_glyph_size(Path(path).name, *rgba.shape[:2]))
    return OSDFont(Path(path).stem, glyphs, _family_from_name(Path(path)))


def load_hdzero_bmp(path: Path) -> OSDFont:
    """Load an HDZero BMP font: 16 x 32 grid of 24x36 glyphs, RGB(127,127,127) transparent."""
    rgba = _read_rgba(Path(path))
    rgba[(rgba[..., :3] == 127).all(-1), 3] = 0
    g = rgba[: 32 * 36, : 16 * 24].reshape(32, 36, 16, 24, 4).transpose(0, 2, 1, 3, 4)
    return OSDFont(Path(path).stem, np.ascontiguousarray(g.reshape(512, 36, 24, 4)), "betaflight")


def load_font_file(path: Path) -> OSDFont | None:
    """Load one font file by extension; None for a file that is not a recognised font."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".mcm":
        return load_mcm(path)
    if ext == ".bmp":
        return load_hdzero_bmp(path)
    if ext == ".png" and not path.with_suffix(".mcm").exists():  # skip .mcm previews
        h = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if h is not None and h.shape[0] >= 4 * h.shape[1]:  # tall strip, not a preview sheet
            return load_png_sheet(path)
    return None


def load_font_dir(folder: str | Path) -> list[OSDFont]:
    """All fonts found (recursively) under ``folder``, sorted by path for reproducibility."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"font folder not found: {folder}")
    fonts = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in (".mcm", ".png", ".bmp"):
            try:
                font = load_font_file(path)
            except ValueError:
                continue  # an unrelated or broken image in the folder: not a font
            if font is not None:
                font.name = path.relative_to(folder).with_suffix("").as_posix()
                fonts.append(font)
    return fonts
