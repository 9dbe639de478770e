"""Remove an OSD from a video through the Python API.

Run it from anywhere: it generates a small clip with a burned-in overlay and its mask,
builds a model (the packaged default if this install has one, else an untrained tiny
model, which returns the classical fill), calls ``process_video``, then does the same one
frame at a time with the frame-level ``OSDFilter``.

    python examples/api_example.py [OUT_DIR]
"""

import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from osdfilter import FilterConfig, ModelConfig, OSDFilter, RecurrentUNet, process_video
from osdfilter.errors import CheckpointError
from osdfilter.masks.image import load_mask
from osdfilter.model.runners import TorchRunner, make_runner


def write_clip(path: Path, mask_path: Path, width: int = 320, height: int = 180, frames: int = 30) -> None:
    """A panning gradient with white outlined text burned in, plus the text's mask."""
    yy, xx = np.mgrid[0:height, 0:2 * width]
    background = np.stack([xx % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
    overlay = np.zeros((height, width, 3), np.uint8)
    for text, org in (("12.6V", (10, 24)), ("00:42", (240, 24)), ("ALT 35m", (10, 170))):
        cv2.putText(overlay, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (1, 1, 1), 4)  # outline
        cv2.putText(overlay, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    mask = overlay.max(axis=2) > 0
    cv2.imwrite(str(mask_path), mask.astype(np.uint8) * 255)

    with av.open(str(path), "w") as container:  # encode: stream set-up, encode+mux, flush, close
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(frames):
            frame = background[:, 4 * t : 4 * t + width].copy()
            frame[mask] = overlay[mask]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def pick_model():
    """The packaged default model if installed, else an untrained tiny one."""
    try:
        return make_runner(None, device="cpu")
    except CheckpointError as exc:
        print(f"({exc}; using an untrained tiny model)")
        return RecurrentUNet(ModelConfig.preset("tiny"))


def frame_level(src: Path, mask_path: Path, runner, out_png: Path) -> int:
    """The same job one frame at a time with ``OSDFilter`` (your own decoder and encoder):
    ``push`` returns the frames it has finished, a chunk at a time; ``flush`` the rest."""
    mask = load_mask(mask_path, 180, 320)
    filt = OSDFilter(runner, mask, FilterConfig(chunk=8))
    restored = []
    with av.open(str(src)) as container:
        for frame in container.decode(video=0):
            restored += filt.push(frame.to_ndarray(format="rgb24"))  # uint8 RGB [H, W, 3]
    restored += filt.flush()
    cv2.imwrite(str(out_png), cv2.cvtColor(restored[len(restored) // 2], cv2.COLOR_RGB2BGR))
    return len(restored)


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="osdfilter-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    src, mask, dst = out_dir / "input.mp4", out_dir / "mask.png", out_dir / "output.mp4"
    write_clip(src, mask)
    model = pick_model()
    report = process_video(src, dst, mask=mask, model=model, config=FilterConfig(chunk=8), device="cpu", overwrite=True)
    print(f"{report.frames} frames, {report.fps:.1f} frames/s -> {dst}")
    runner = model if hasattr(model, "step") else TorchRunner(model)  # OSDFilter takes a runner
    n = frame_level(src, mask, runner, out_dir / "middle_frame.png")
    print(f"frame-level OSDFilter: {n} frames restored -> {out_dir / 'middle_frame.png'}")


if __name__ == "__main__":
    main()
