"""Training: configuration, the loop, checkpoints."""

from salmap.train.config import DataConfig, OptimConfig, TrainConfig, load_config
from salmap.train.loop import TrainingError, train

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "TrainingError", "load_config", "train"]
