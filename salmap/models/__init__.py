"""Saliency models: encoders (registry), decoders, the head, the model and its save/load."""

from salmap.models.decoders import DECODERS, create_decoder
from salmap.models.encoders import ENCODERS, create_encoder, list_encoders
from salmap.models.io import load_model, save_model
from salmap.models.model import ModelConfig, SaliencyModel

__all__ = [
    "DECODERS",
    "ENCODERS",
    "ModelConfig",
    "SaliencyModel",
    "create_decoder",
    "create_encoder",
    "list_encoders",
    "load_model",
    "save_model",
]
