"""Synthetic FPV OSD overlays for training and evaluation.

    from osdfilter.osd import OSDStyle, OSDSynth, load_font_dir
    synth = OSDSynth(h, w, rng=np.random.default_rng(0), fonts=load_font_dir(path) or None)
    overlaid, masks, boxes = synth.render_clip(frames)   # uint8 [T,H,W,3], bool [T,H,W] x2

See docs/osd_synthesis.md.
"""

from .fonts import OSDFont, load_font_dir, load_font_file, parse_mcm, parse_png_sheet
from .synth import GRIDS, OSDStyle, OSDSynth

__all__ = ["GRIDS", "OSDFont", "OSDStyle", "OSDSynth", "load_font_dir", "load_font_file",
           "parse_mcm", "parse_png_sheet"]
