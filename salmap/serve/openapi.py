"""What /openapi.json (and the docs page at /docs) says beyond the routes themselves: the
errors as they are sent (``{"error": ...}`` with their status), the bearer token the docs page
can send, and an example answer per endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

# The "Authorize" button of /docs: the token given to --token (ignored when none was given).
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="the token given to `salmap serve --token` (only when it was)",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


class ErrorBody(BaseModel):
    error: str


ERROR_MEANINGS = {
    400: "an unreadable image or body",
    401: "a missing or wrong token",
    403: "refused: the server does not fetch URLs, or not this address",
    413: "too large: the upload's bytes or the image's pixels",
    415: "not an image",
    422: "bad parameters",
    502: "the page failed to load or took too long",
}
UPLOAD_ERRORS = (400, 401, 413, 415, 422)


def errors(*codes: int) -> dict:
    """The ``responses`` of an endpoint that may answer ``codes``: each ``{"error": ...}``."""
    return {
        c: {
            "model": ErrorBody,
            "description": ERROR_MEANINGS[c],
            "content": {"application/json": {"example": {"error": _EXAMPLE_ERRORS[c]}}},
        }
        for c in codes
    }


_EXAMPLE_ERRORS = {
    400: "photo.jpg: cannot read this image (truncated file)",
    401: "missing or wrong token: send the header 'Authorization: Bearer TOKEN'",
    403: "this server does not fetch URLs (start it with --allow-urls)",
    413: "the upload is larger than 25 MB",
    415: "notes.txt is not an image",
    422: "bad parameters: format: Input should be 'png', 'png16', 'npy' or 'json'",
    502: "https://example.com/: the server answered HTTP 503",
}


def answer(example: dict, *codes: int) -> dict:
    """``responses``: a JSON ``example`` for 200 and the errors of ``codes``."""
    return {200: {"content": {"application/json": {"example": example}}}, **errors(*codes)}


HEALTH = {"status": "ok", "version": "0.1.0", "forward_passes": 12, "images": 30}
MODEL = {
    "name": "default",
    "runner": "onnxruntime",
    "input_size": {"height": 512, "width": 512},
    "aspect": "pad",
    "encoder": "efficientnet_lite0",
    "decoder": "readout",
    "output": "softmax",
    "training_data": {"format": ["nus-scene", "osie"], "datasets": ["nus-scene", "osie"]},
    "licence": "MIT (the weights and their training data)",
    "batch_size": 8,
    "max_upload_mb": 25.0,
}
SALIENCY = {
    "width": 1024,
    "height": 768,
    "peak": {"x": 530, "y": 301, "value": 4.1e-05},
    "centre_of_mass": {"x": 518.2, "y": 370.9},
    "entropy_bits": 18.2,
    "area_for_attention": {"50%": 0.061, "80%": 0.19, "95%": 0.38},
}
CROP = {
    "image": "photo.jpg",
    "width": 1024,
    "height": 768,
    "crops": {"1:1": {"box": [180, 0, 948, 768], "attention": 0.87}},
}
ATTENTION = {
    "image": "poster.png",
    "width": 800,
    "height": 1200,
    "regions": {"logo": {"attention": 0.12, "area": 0.02}},
    "outside": {"attention": 0.88, "area": 0.98},
    "overlaps": [],
    "concentration": 0.07,
}
