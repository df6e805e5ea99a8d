"""The Ray engine's entry point for your own pipelines, under its first name: see
:mod:`salmap.batch.ray`, where it lives with the rest of the engine."""

from salmap.batch.ray import predict_dataset

__all__ = ["predict_dataset"]
