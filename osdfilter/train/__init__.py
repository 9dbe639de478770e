"""Training: synthetic OSD data from clean footage, the L1 and GAN stages, exact resume, DDP.

    from osdfilter.train import TrainConfig, train
    train(TrainConfig(data=["clips/"], steps=2000, run_dir="runs/mine"))

Needs no files besides clean footage; ``osdfilter train --help`` lists every option.
"""

from .config import TrainConfig, build_config
from .trainer import export_model, lr_at, train

__all__ = ["TrainConfig", "build_config", "export_model", "lr_at", "train"]
