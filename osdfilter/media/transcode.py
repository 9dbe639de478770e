"""Video in, video out: the streaming pipeline around the filter (:class:`~osdfilter.filter.core.OSDFilter`).

The media lifecycle, written out in full (PyAV)::

    open input → add one output stream per kept input stream, in input order
    demux (every kept stream, file order)
      ├─ video packet → decode → RGB uint8 → OSDFilter.prepare (mask, prefill, crops)
      │                 → OSDFilter.restore_prepared (model) → restored regions
      │                 → composite into the decoded yuv420p planes (media/yuv.py), or
      │                   for other pixel formats into the RGB frame, then → yuv420p
      │                 → VideoFrame (input pts, input time base) → encode → mux
      ├─ audio packet, codec accepted by the output container → mux as is
      ├─ audio packet, codec not accepted → decode → encode AAC → mux
      └─ subtitle / data / attachment packet (accepted) → mux as is
    end of input: flush the filter (partial last chunk) → flush every encoder → close

Nothing is muxed before the first video frame is decoded: its rotation, colour tags and
bit depth set up the encoder, and the few packets demuxed before it wait in a short list.
Only ``chunk`` frames (plus the codecs' own look-ahead) are held in memory, whatever the
video's length. The output keeps the input's size, frame count, frame rate and
presentation timestamps: the video stream uses the input's time base and every frame
keeps its input pts.

Damaged input: packets that fail to decode are skipped and frames whose pts goes
backwards are dropped; a read error ends the input early. Whatever decodes is written,
with one warning giving the counts. A file where no video frame decodes is an error.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterator, Optional, Union

import av
import numpy as np
from tqdm import tqdm

from ..errors import MediaError, option
from .damage import FRAME_COUNT_MUXERS, FrameAccount
from .encode import EncodeOptions
from .files import av_message, mp4_index_message
from .pipeline import pipeline
from .yuv import YUVCompositor, input_chroma

# Audio a container cannot hold as it is is re-encoded, with the first of these it takes
# (then its own default): WebM takes neither AAC nor MP3, AVI and ASF no Opus.
FALLBACK_AUDIO_ENCODERS = ("aac", "libopus", "libvorbis", "libmp3lame")
# Muxers that store no presentation order: x264's B-frames came out of an AVI or ASF
# (.wmv) in the wrong order (decode order, shifted), so B-frames are off there.
NO_REORDER_MUXERS = ("avi", "asf")
PERMISSIVE_MUXERS = ("mpegts",)  # no codec table to query; they take any stream
DROPPED_METADATA = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration"}
PIPELINE_THREADS = True  # decode / filter / encode concurrently; False: one thread (same output)
YUV_COMPOSITE = True  # composite 8-bit 4:2:0 and 4:4:4 input in its own planes; False: always via RGB (comparisons)
# --duration: once the video has reached its end, demuxing goes on only for packets of the
# other streams that are still due; muxers interleave streams within a second or two, so
# past this many seconds beyond the end nothing earlier is left to find.
INTERLEAVE_S = 5.0


@dataclass
class Report:
    """What one ``process_video`` call did."""

    frames: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # Seconds each concurrent stage spent working (not waiting on its neighbours): the one
    # closest to ``seconds`` sets the pace. Empty when the stages ran in one thread.
    stages: dict[str, float] = field(default_factory=dict)
    # CPU seconds of each stage's own thread (the libraries' threads, e.g. the codecs' and
    # ONNX Runtime's, not counted): the pipeline's own work per stage. Empty as ``stages``.
    stage_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def rescale_ts(ts: int, from_time_base: Fraction, to_time_base: Fraction) -> int:
    """A timestamp in ``from_time_base`` units expressed in ``to_time_base`` units (rounded).

    The one place timestamps change units; exact (no float) so VFR pts survive.
    """
    return round(Fraction(ts) * from_time_base / to_time_base)


def codec_name(stream: Any) -> str:
    """The codec's canonical name (``subrip``, not the ``srt`` decoder), as muxers list them."""
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None:
        return "none"
    return ctx.codec.canonical_name


def copy_metadata(src: dict, dst: Any) -> None:
    """Tags such as title, language, creation_time; not those describing the old encode."""
    for key, value in src.items():
        if key.lower() not in DROPPED_METADATA and not key.upper().startswith("DURATION"):
            dst.metadata[key] = value


# --- the transcoder --------------------------------------------------------------------


@dataclass
class Route:
    """One input stream and how its packets reach the output."""

    src: Any
    dst: Any
    copy: bool  # True: packets as they are; False: decode → encode (fallback_audio_encoder)


class Transcoder:
    """One input → one output: stream set-up, the demux loop, flushing.

    ``filt`` is the frame filter (an :class:`~osdfilter.filter.core.OSDFilter`, or the
    :class:`~osdfilter.filter.layout.LayoutFilter` around one): ``prepare``,
    ``restore_prepared``, ``flush_restored``, ``composite``, ``cores``, ``config``.
    """

    def __init__(self, inp: av.container.InputContainer, out: av.container.OutputContainer, vin: Any, filt: Any,
                 report: Report, duration: Optional[float] = None, start: float = 0.0, seekable: bool = True) -> None:
        self.inp, self.out, self.vin, self.filt, self.report = inp, out, vin, filt, report
        # --start: frames before ``start_pts`` are dropped, and every stream is moved back
        # by ``start`` seconds (its own time base) so that the output starts at 0.
        self.start, self.seekable = start, seekable
        first = vin.start_time or 0
        self.start_pts = first + round(start / vin.time_base) if start else None
        # A video that starts before 0 (a PTS wrap, an edit list) is moved to start at 0 the
        # same way: an MP4 hid its frames before 0, a Matroska file lost every timestamp.
        shift = self.start_pts if start else min(first, 0)
        self.start_s = Fraction(shift or 0) * vin.time_base  # ... in seconds (exact)
        self.moved = bool(start) or first < 0  # timestamps are moved back by start_s
        self.duration = duration  # seconds of video to write (None: all)
        self.end_pts: Optional[int] = None  # ... as the first video pts past them (set on frame 1)
        self.end_s: Optional[float] = None  # ... and as a time for the other streams' packets
        self.video_done = False  # the video reached ``end_pts``: no more frames are decoded
        self.kept = False  # a frame at or after ``start_pts`` was decoded
        self.streams_done: set[int] = set()  # other streams that delivered a packet past ``end_s``
        self.routes: dict[int, Route] = {}  # input stream index → route (video excluded)
        self.vout: Any = None
        self.pending: list[av.Packet] = []  # packets demuxed before the encoder was set up
        self.last_in_pts: Optional[int] = None  # pts of the last decoded frame (decode stage)
        self.colour: dict[str, Any] = {}
        self.counts = {"frames": 0, "bad_packets": 0, "bad_pts": 0}
        self.read_error: Optional[str] = None
        self.started = False  # encoder set up from the first frame
        self.last_pts: Optional[int] = None  # pts of the last frame handed to the encoder
        self.compositor: Optional[YUVCompositor] = None  # made with the first frame's colour tags
        self.pix_fmt = "yuv420p"  # the encoder's, chosen from the first frame (choose_pix_fmt)
        self.out_tb: Fraction = vin.time_base  # the output video's time base (add_video)
        self.last_out_pts: Optional[int] = None  # in out_tb, where that is not the input's
        self.account = FrameAccount(inp.format.name, vin.frames or 0, vin.time_base)  # for report_damage

    # set-up ---------------------------------------------------------------------------

    def add_streams(self, encode: EncodeOptions) -> None:
        """One output stream per kept input stream, in input order; container metadata."""
        copy_metadata(self.inp.metadata, self.out)
        for stream in self.inp.streams:
            if stream is self.vin:
                self.vout = self.add_video(encode)
            elif stream.type == "audio":
                self.add_audio(stream)
            else:
                self.add_copy(stream)

    def add_video(self, encode: EncodeOptions) -> Any:
        """The encoder stream: input size, rate and time base (pixel format set on frame 1)."""
        codec = encode.codec
        if not accepts(self.out, codec_name_of(codec)):
            raise MediaError(f"the {self.out.format.name} container cannot hold {codec}; choose another --codec or extension")
        ctx = self.vin.codec_context
        vout = self.out.add_stream(codec, rate=self.vin.average_rate or self.vin.guessed_rate or Fraction(30))
        vout.width, vout.height = ctx.width, ctx.height
        # Same time base as the input, so every input pts is written unchanged; AVI counts
        # frames (a finer time base became 600 "frames" a second, mostly empty entries).
        rate = self.vin.average_rate or self.vin.guessed_rate
        if self.out.format.name in FRAME_COUNT_MUXERS and rate:
            self.out_tb = 1 / Fraction(rate)
        vout.time_base = vout.codec_context.time_base = self.out_tb
        vout.options = encode.encoder_options()
        if codec == "libsvtav1":  # its banner and config dump (20 lines, even with -q): errors only, as x265's log-level
            os.environ.setdefault("SVT_LOG", "1")
        if self.out.format.name in NO_REORDER_MUXERS:
            vout.codec_context.max_b_frames = 0
        if self.vin.sample_aspect_ratio:
            vout.sample_aspect_ratio = self.vin.sample_aspect_ratio
        copy_metadata(self.vin.metadata, vout)
        return vout

    def add_audio(self, ain: Any) -> None:
        if ain.codec_context is None:  # a codec ID FFmpeg does not know (a damaged header): left out
            return self.add_copy(ain)
        name, rate = codec_name(ain), ain.codec_context.sample_rate
        if not rate:  # declared, never written: no muxer takes it (an "Invalid argument" on the output)
            self.report.warn(f"audio stream #{ain.index} ({name}) has no sample rate (empty stream?): left out")
            return
        if accepts(self.out, name):
            return self.add_copy(ain)
        encoder = fallback_audio_encoder(self.out)
        if encoder is None:
            self.report.warn(f"audio stream #{ain.index} ({name}) cannot go in {self.out.format.name}: left out")
            return
        rates = av.Codec(encoder, "w").audio_rates
        aout = self.out.add_stream(encoder, rate=rate if not rates or rate in rates else max(rates))
        self.report.warn(f"audio stream #{ain.index} ({name}) cannot go in {self.out.format.name}: re-encoded to {codec_name(aout)}")
        if ain.codec_context.layout:
            aout.layout = ain.codec_context.layout
        copy_metadata(ain.metadata, aout)
        self.routes[ain.index] = Route(ain, aout, copy=False)

    def add_copy(self, stream: Any) -> None:
        """Copy audio/subtitle/data/attachment/extra video streams the container accepts."""
        name = codec_name(stream)
        if not accepts(self.out, name) or (stream.type == "attachment" and "matroska" not in self.out.format.name):
            self.report.warn(f"{stream.type} stream #{stream.index} ({name}) cannot go in {self.out.format.name}: left out")
            return
        try:
            sout = self.out.add_stream_from_template(stream)
        except (av.FFmpegError, ValueError) as exc:
            self.report.warn(f"{stream.type} stream #{stream.index} ({name}) left out: {av_message(exc)}")
            return
        copy_metadata(stream.metadata, sout)
        sout.disposition = stream.disposition
        self.routes[stream.index] = Route(stream, sout, copy=True)

    def choose_pix_fmt(self, first: av.VideoFrame) -> str:
        """The input's chroma resolution (4:4:4, 4:2:2, 4:2:0) where the encoder takes it,
        else yuv420p with a warning; odd sizes: yuv444p."""
        ctx, codec = self.vin.codec_context, self.vout.codec_context.codec
        if output_pix_fmt(ctx.width, ctx.height) != "yuv420p":
            return output_pix_fmt(ctx.width, ctx.height)
        wanted, takes = input_chroma(first), {f.name for f in codec.video_formats or ()}
        if wanted != "yuv420p" and takes and wanted not in takes:
            self.report.warn(f"{first.format.name} input: {codec.name} takes no {wanted}: written as yuv420p")
            return "yuv420p"
        return wanted

    def start_video(self, first: av.VideoFrame) -> None:
        """Pixel format, colour tags and rotation from the first decoded frame; then mux."""
        ctx, vout = self.vin.codec_context, self.vout
        vout.pix_fmt = self.pix_fmt
        if output_pix_fmt(ctx.width, ctx.height) != "yuv420p":
            self.report.warn(f"odd frame size {ctx.width}x{ctx.height}: encoded as {vout.pix_fmt}")
        if max(c.bits for c in first.format.components) > 8:
            self.report.warn(f"{first.format.name} input: processed and written as 8-bit {vout.pix_fmt}")
        for name, value in self.colour.items():  # on the stream; encode() tags frames
            setattr(vout.codec_context, name, value)
        if first.rotation:
            vout.set_display_rotation(first.rotation)
        self.started = True
        self.out.start_encoding()  # header written now: the output file exists from here
        pending, self.pending = self.pending, []
        for packet in pending:
            self.mux_packet(packet)

    # the loop -------------------------------------------------------------------------

    def run(self, bar: tqdm) -> None:
        """Demux + decode, analyse (masks, scene cuts, the fill's motion), prepare (the fill
        and the model's crops), model, and encode + mux run as five concurrent stages
        (media/pipeline.py); muxing stays in this thread. Then flush, report."""
        streams = [self.vin] + [r.src for r in self.routes.values()]
        if self.start_pts is not None and self.seekable:
            # The keyframe at or before the start; the frames up to it are decoded and dropped.
            try:
                self.inp.seek(self.start_pts, stream=self.vin, backward=True, any_frame=False)
            except av.FFmpegError:
                pass  # not seekable after all: decode from the beginning and drop
        decoded = self.decoded(streams)
        # Two chunks per link: the network takes a whole chunk at once, and with room for one
        # more the fill keeps working meanwhile (faster than one, no faster with three:
        # docs/benchmarks.md, Speed); memory stays bounded by the chunk size.
        depth = 2 * self.filt.config.chunk
        busy: list[float] = []
        cpu: list[float] = []
        encoding, cpu0 = 0.0, time.thread_time()
        for kind, payload in pipeline(decoded, self.analysed, self.prepared, self.filtered, maxsize=depth, threaded=PIPELINE_THREADS, busy=busy, cpu=cpu):
            t0 = time.perf_counter()
            if kind == "frame":
                self.encode([payload], bar)
            elif kind == "start":
                self.start_video(payload)
            elif not self.started:
                self.pending.append(payload)
            else:
                self.mux_packet(payload)
            encoding += time.perf_counter() - t0
        t0 = time.perf_counter()
        self.flush_encoders()
        if busy:
            names = ("decode", "analyse", "prepare", "model", "encode")
            self.report.stages = dict(zip(names, busy + [encoding + time.perf_counter() - t0]))
            self.report.stage_cpu = dict(zip(names, cpu + [time.thread_time() - cpu0]))
        self.report_damage()

    def decoded(self, streams: list) -> Iterator[tuple[str, Any]]:
        """Stage 1: ``("start", first frame)``, ``("frame", (pts, rgb))``, ``("packet", other)``."""
        for packet in self.demux(streams):
            # packet.stream, not packet.stream_index: PyAV's end-of-file flush packets
            # carry index 0 whatever their stream, and the decoder needs its own.
            if packet.stream.index == self.vin.index:
                self.account.packet(packet.size)
                if not self.video_done:
                    yield from self.frames(self.decode(packet))
            elif self.due(packet):
                yield "packet", packet
            if self.video_done and self.nothing_due(packet):
                break  # --duration reached: the rest of the file is not read
        if self.read_error:  # the decoder was not flushed by the demuxer's empty packets
            yield from self.frames(self.decode(None))
        if self.last_in_pts is None:
            if not self.seekable and self.inp.format.name.startswith("mov"):
                raise MediaError(f"{self.inp.name}: an MP4 with its index at the end cannot be read from a pipe; it needs a "
                                 "seekable input (give the file) or a fragmented MP4 (or pipe Matroska)")
            raise MediaError(mp4_index_message(self.inp.name) or f"no video frame could be decoded from {self.inp.name}{self.read_error or ''}")
        if not self.kept:
            raise MediaError(f"{option('start')} {self.start:g} s is at or past the end of the video")

    def frames(self, frames: list[av.VideoFrame]) -> Iterator[tuple[str, Any]]:
        """Decoded frames as ``(pts, RGB, packed yuv420p planes or None)`` (frames with pts
        going backwards dropped). The planes, when the frame has them, are what the output
        is composited into (media/yuv.py)."""
        for frame in frames:
            if not self.colour:  # the first frame sets up the encoder (in the muxing thread)
                self.colour = colour_tags(frame, self.vin)
                self.pix_fmt = self.choose_pix_fmt(frame)
                self.compositor = YUVCompositor(self.colour, "yuv444p" if self.pix_fmt == "yuv444p" else "yuv420p")
                yield "start", frame
            pts = self.frame_pts(frame)
            self.account.frame(pts)
            if pts is None:
                self.counts["bad_pts"] += 1
                continue
            self.last_in_pts = pts
            if self.start_pts is not None and pts < self.start_pts:
                continue  # decoded to reach the start, not written
            self.kept = True
            if self.duration is not None:
                if self.end_pts is None:  # the preview is measured from the first frame
                    self.end_pts = pts + max(1, round(self.duration / self.vin.time_base))
                    self.end_s = float(pts * self.vin.time_base) + self.duration
                if pts >= self.end_pts:
                    self.video_done = True  # frames come out in presentation order
                    return
            rgb = frame.to_ndarray(format="rgb24", src_colorspace=self.colour["colorspace"], src_color_range=self.colour["color_range"])
            yuv = frame.to_ndarray() if YUV_COMPOSITE and self.compositor.takes(frame) else None
            yield "frame", (pts, rgb, yuv)

    def analysed(self, items: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        """Stage 2: per-frame masks, scene cuts and the fill's motion (in order)."""
        return self._each_frame(items, self.filt.analyse)

    def prepared(self, items: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        """Stage 3: the fill and the model's crops (in order)."""
        return self._each_frame(items, self.filt.prepare_analysed)

    @staticmethod
    def _each_frame(items: Iterator[tuple[str, Any]], step: Callable[[Any], Any]) -> Iterator[tuple[str, Any]]:
        """``items`` with each frame's picture (or what an earlier stage made of it) replaced by
        ``step`` of it, its pts and planes kept; the rest passes."""
        for kind, payload in items:
            if kind == "frame":
                pts, picture, yuv = payload
                payload = pts, step(picture), yuv
            yield kind, payload

    def filtered(self, items: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        """Stage 4: prepared frames through the model (in order, pts re-attached); the rest passes."""
        inside: deque[tuple[int, Optional[np.ndarray]]] = deque()  # (pts, planes) of frames in the filter
        for kind, payload in items:
            if kind != "frame":
                yield kind, payload
                continue
            pts, item, yuv = payload
            inside.append((pts, yuv))
            for restored in self.filt.restore_prepared(item):
                yield "frame", self.composite(restored, *inside.popleft())
        for restored in self.filt.flush_restored():
            yield "frame", self.composite(restored, *inside.popleft())

    def composite(self, restored: Any, pts: int, yuv: Optional[np.ndarray]) -> tuple[int, Union[np.ndarray, av.VideoFrame]]:
        """``(pts, output)``: a yuv420p VideoFrame composited in the decoded planes, or an RGB
        frame (pixel formats the 4:2:0 composite does not take)."""
        if yuv is None:
            return pts, self.filt.composite(restored)
        cores = self.filt.cores(restored.crops, restored.item.mask, align=2, planar=True)
        return pts, self.compositor(yuv, self.filt.height, self.filt.width, cores)

    def due(self, packet: av.Packet) -> bool:
        """Whether a packet of another stream belongs in the output (always, without
        ``start`` and ``duration``; else the packets from ``start`` to ``end_s``)."""
        if packet.pts is None:
            return not self.video_done
        t = packet.pts * packet.time_base
        if self.start and t < self.start_s:
            return False
        if self.end_s is None or float(t) < self.end_s:
            return True
        self.streams_done.add(packet.stream.index)
        return False

    def shift(self, ts: Optional[int], time_base: Fraction) -> Optional[int]:
        """A timestamp of the input moved back by ``start_s`` (in ``time_base``)."""
        return None if ts is None else ts - round(self.start_s / time_base)

    def nothing_due(self, packet: av.Packet) -> bool:
        """After the video's end: every other stream is past ``end_s``, or the file is
        ``INTERLEAVE_S`` beyond it."""
        if set(self.routes) <= self.streams_done:
            return True
        ts = packet.dts if packet.dts is not None else packet.pts
        return ts is not None and float(ts * packet.time_base) >= self.end_s + INTERLEAVE_S

    def demux(self, streams: list) -> Iterator[av.Packet]:
        """Packets in file order; a read error ends the input (what came before is kept)."""
        try:
            yield from self.inp.demux(*streams)
        except av.FFmpegError as exc:
            self.read_error = f" (read error: {av_message(exc)})"

    def decode(self, packet: Optional[av.Packet]) -> list[av.VideoFrame]:
        try:
            return self.vin.decode(packet)
        except EOFError:  # a second flush packet after the decoder has drained
            return []
        except av.FFmpegError:
            self.counts["bad_packets"] += 1  # damaged data: skip it, keep going
            return []

    def frame_pts(self, frame: av.VideoFrame) -> Optional[int]:
        """Input pts (time base of the input stream); guessed if missing, None if backwards."""
        last = self.last_in_pts
        if frame.pts is None:
            step = rescale_ts(1, 1 / (self.vin.average_rate or Fraction(30)), self.vin.time_base) or 1
            return 0 if last is None else last + step
        if last is not None and frame.pts <= last:
            return None  # an encoder needs strictly increasing pts
        return frame.pts

    def encode(self, frames: list[tuple[int, Union[np.ndarray, av.VideoFrame]]], bar: tqdm) -> None:
        """Encode restored ``(pts, RGB or yuv420p frame)`` with the pts they had on input; mux the packets."""
        for pts, image in frames:
            if isinstance(image, av.VideoFrame):
                frame = image  # composited in the decoded planes, tagged (media/yuv.py)
            else:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                    format=self.vout.pix_fmt, dst_colorspace=self.colour["colorspace"], dst_color_range=self.colour["color_range"]
                )
                frame.color_primaries, frame.color_trc = self.colour["color_primaries"], self.colour["color_trc"]
            self.last_pts = self.shift(pts, self.vin.time_base) if self.moved else pts
            frame.pts = self.output_pts(self.last_pts)
            frame.time_base = self.vout.codec_context.time_base
            self.out.mux(self.vout.encode(frame))
        self.counts["frames"] += len(frames)
        self.report.frames = self.counts["frames"]
        bar.update(len(frames))

    def output_pts(self, pts: int) -> int:
        """An input pts in the output's time base (the same number unless the muxer counts
        frames), kept strictly increasing."""
        if self.out_tb == self.vin.time_base:
            return pts
        out = rescale_ts(pts, self.vin.time_base, self.out_tb)
        if self.last_out_pts is not None and out <= self.last_out_pts:
            out = self.last_out_pts + 1
        self.last_out_pts = out
        return out

    def mux_packet(self, packet: av.Packet) -> None:
        route = self.routes[packet.stream.index]
        if route.copy:
            # Skip the demuxer's flush packet by size, not by `dts is None`: a real keyframe
            # may lack a DTS and must be kept (PyAV issue #1917).
            if packet.size == 0:
                return
            if self.moved:
                packet.pts = self.shift(packet.pts, packet.time_base)
                packet.dts = self.shift(packet.dts, packet.time_base)
            packet.stream = route.dst  # mux rescales from the input's time base
            self.out.mux(packet)
            return
        try:
            frames = route.src.decode(packet)
        except av.FFmpegError:
            self.counts["bad_packets"] += 1
            return
        for frame in frames:
            frame.pts = None  # the AAC encoder re-times from its own sample count
            self.out.mux(route.dst.encode(frame))

    def flush_encoders(self) -> None:
        for packet in self.pending:  # only if the video never started (cannot happen here)
            self.mux_packet(packet)
        self.out.mux(self.vout.encode(None))  # the frames the encoder still holds
        for route in self.routes.values():
            if not route.copy:
                self.out.mux(route.dst.encode(None))

    def end_seconds(self) -> float:
        """Where the written video ends (last pts plus one nominal frame), in seconds."""
        rate = self.vin.average_rate or Fraction(30)
        return float(Fraction(self.last_pts or 0) * self.vin.time_base + 1 / rate)

    def ends_early(self) -> bool:
        """Whether the video stops over two frames before the container says it ends."""
        if not self.inp.duration or self.last_pts is None:
            return False
        rate = self.vin.average_rate or Fraction(30)
        return self.end_seconds() < self.inp.duration / av.time_base - 2 / float(rate)

    def report_damage(self) -> None:
        """One warning if the input was damaged: what was lost, what was kept."""
        c = self.counts
        expected = self.account.expected()
        parts = []
        if c["bad_packets"]:
            parts.append(f"{c['bad_packets']} undecodable packets skipped")
        if c["bad_pts"]:
            parts.append(f"{c['bad_pts']} frames with out-of-order timestamps dropped")
        if self.read_error:
            parts.append(f"input ended early{self.read_error}")
        if self.video_done or self.start:
            pass  # --start / --duration: fewer frames than the file holds is the point
        elif expected and c["frames"] < expected:
            parts.append(f"{c['frames']} of {expected} frames written")
        if not self.vin.frames and not (self.video_done or self.start) and self.ends_early():
            parts.append(f"video stops at {self.end_seconds():.2f}s of {self.inp.duration / av.time_base:.2f}s")
        if parts:
            self.report.warn("damaged input: " + "; ".join(parts))


def output_pix_fmt(width: int, height: int) -> str:
    """yuv420p, the format players expect; 4:2:0 needs even sizes, so odd ones keep 4:4:4."""
    return "yuv444p" if width % 2 or height % 2 else "yuv420p"


def colour_tags(frame: av.VideoFrame, stream: Any) -> dict[str, int]:
    """The colour description the output copies: matrix, range, primaries, transfer.

    From the frame, else from the stream (a container tag the decoder may not pass on).
    """
    unspecified = {"colorspace": 2, "color_range": 0, "color_primaries": 2, "color_trc": 2}
    tags = {}
    for name, none in unspecified.items():
        value = getattr(frame, name)
        tags[name] = value if value != none else getattr(stream.codec_context, name)
    return tags


def accepts(out: av.container.OutputContainer, codec: str) -> bool:
    """Whether the output container can hold ``codec`` (MPEG-TS cannot say: assume yes)."""
    return codec in out.supported_codecs or (out.format.name in PERMISSIVE_MUXERS and codec != "none")


def fallback_audio_encoder(out: av.container.OutputContainer) -> Optional[str]:
    """The encoder for audio ``out`` cannot hold as it is (FALLBACK_AUDIO_ENCODERS, then the
    container's default), or None."""
    for encoder in (*FALLBACK_AUDIO_ENCODERS, out.default_audio_codec):
        try:
            if encoder and accepts(out, codec_name_of(encoder)):
                return encoder
        except (av.FFmpegError, ValueError):  # not in this FFmpeg build
            continue
    return None


def codec_name_of(encoder: str) -> str:
    """The canonical codec name of an encoder (``libx264`` → ``h264``)."""
    return av.Codec(encoder, "w").canonical_name


def progress_bar(vin: av.video.stream.VideoStream, quiet: bool, duration: Optional[float] = None, start: float = 0.0) -> tqdm:
    """tqdm on stderr counting frames (frames/s and ETA when the length is known)."""
    total = vin.frames or None
    if not total and vin.duration and vin.average_rate:
        total = int(round(float(vin.duration * vin.time_base * vin.average_rate)))
    if total and start and vin.average_rate:
        total = max(0, total - int(start * float(vin.average_rate)))
    if duration is not None and vin.average_rate:
        preview = int(np.ceil(duration * float(vin.average_rate)))
        total = min(total, preview) if total else preview
    # disable=None: drawn on a terminal only; in a log file or a pipe its redraws are noise.
    return tqdm(total=total, unit="frame", disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True, leave=False)

