"""osdfilter: remove burned-in FPV OSD overlays from video with a recurrent U-Net."""

__version__ = "0.1.0"
