"""Rebuild examples/osd_sample.mp4 and examples/osd_sample_mask.png (the README's demo input).

Source: Tears of Steel battle clip, (c) Blender Foundation | mango.blender.org, CC BY 3.0
(../shared/data/clean/train/tos_battle_clip_medium.webm, seconds 2.4-6.4, between shot cuts).
The OSD is drawn by osdfilter's own synthesis with its built-in renderer (no font files),
so the sample carries no GPL font pixels. Audio: the clip's own track, re-encoded to AAC
(MP4 cannot hold Vorbis).

    python examples/make_sample.py [SOURCE]
"""

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from osdfilter.osd import OSDStyle, OSDSynth

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "shared" / "data" / "clean" / "train" / "tos_battle_clip_medium.webm"
START_S, END_S, SEED = 2.4, 6.4, 7


def main(source: Path = SOURCE) -> None:
    with av.open(str(source)) as src:
        vin = src.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(vin) if START_S <= f.time < END_S]
    h, w = frames[0].shape[:2]
    # Analog PAL grid (30x16): cells about 20 px tall here, legible in the demo.
    style = OSDStyle(grids=((30, 16),), cell_scale=(0.85, 0.95), p_chroma_bleed=0.0, p_noise=0.0, p_jpeg=0.0, p_transparent=0.0)
    synth = OSDSynth(h, w, rng=np.random.default_rng(SEED), fonts=None, style=style, fps=24)
    overlaid, _, _ = synth.render_clip(np.stack(frames))
    cv2.imwrite(str(HERE / "osd_sample_mask.png"), synth.union_mask(len(frames)).astype(np.uint8) * 255)

    with av.open(str(source)) as src, av.open(str(HERE / "osd_sample.mp4"), "w") as out:
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "20", "preset": "slow"}
        aus = out.add_stream("aac", rate=48000, layout="stereo")
        for img in overlaid:
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode())
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        for frame in src.decode(audio=0):
            if START_S <= frame.time < END_S:
                for rf in resampler.resample(frame):
                    rf.pts = None
                    out.mux(aus.encode(rf))
        out.mux(aus.encode())
    print(f"wrote {HERE / 'osd_sample.mp4'} ({(HERE / 'osd_sample.mp4').stat().st_size / 1e6:.2f} MB), {len(frames)} frames {w}x{h}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
