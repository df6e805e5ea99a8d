"""Export to ONNX, and serving an export with onnxruntime (no torch needed at inference).

The exported graph takes the normalised B x 3 x H x W input (dynamic batch) and returns the
activated B x 1 x H x W maps; the model's config (input size, aspect mode, normalisation) is
stored in the ONNX metadata under ``salmap``, so :class:`OnnxModel` preprocesses exactly as the
PyTorch model does.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes
from salmap.models.config import ModelConfig

METADATA_KEY = "salmap"


def half_weights(proto, min_size: int = 256) -> None:
    """Store each float32 weight of ``proto`` (an onnx ModelProto) with at least ``min_size``
    values as float16, followed by a Cast back to float32: the file halves, the arithmetic
    stays float32 (onnxruntime folds the casts when it loads the model)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < min_size:
            continue
        name = init.name
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name)
        half.name = f"{name}.fp16"
        init.CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def static_pads(proto) -> int:
    """Make the ``pads`` of every Pad node of ``proto`` (an onnx ModelProto whose input has a
    fixed height and width, as salmap's exports have) constants, in place; returns how many.

    TensorFlow's "same" padding, which the EfficientNet-Lite weights need (timm's
    ``Conv2dSame``), is traced as a Pad whose amounts are computed from the input's shape at
    run time: about 40 shape operations per padded layer, and a Pad that onnxruntime can
    neither fold into its convolution nor keep in its blocked memory layout. With the height
    and width fixed those amounts never change; they are computed once here (onnxruntime, on a
    zero input of one image) and stored, and the shape operations that only fed them are
    dropped. The maps are unchanged (every batch size is checked against the graph as it was);
    the fast map's model runs about a fifth faster on one core (MODEL_CARD.md)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    fixed = {i.name for i in graph.initializer}
    computed = sorted({n.input[1] for n in graph.node if n.op_type == "Pad"} - fixed - {""})
    image = graph.input[0].type.tensor_type.shape.dim
    if not computed or not all(d.HasField("dim_value") for d in image[1:]):
        return 0
    probe = type(proto)()
    probe.CopyFrom(proto)
    del probe.graph.output[:]
    probe.graph.output.extend(
        helper.make_tensor_value_info(name, TensorProto.INT64, None) for name in computed
    )
    zeros = np.zeros([1, *(d.dim_value for d in image[1:])], dtype=np.float32)
    before = _run(proto, 2)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run(computed, {graph.input[0].name: zeros})
    for name, value in zip(computed, values):
        graph.initializer.append(numpy_helper.from_array(value.astype(np.int64), f"{name}.static"))
        for node in graph.node:
            node.input[:] = [f"{name}.static" if x == name else x for x in node.input]
    _drop_unused(graph)
    after = _run(proto, 2)
    # never expected (the amounts cannot depend on the pixels); a fused pad may only reorder sums
    if not np.allclose(before, after, rtol=1e-4, atol=1e-4 * float(np.abs(before).max())):
        raise SalmapError("static pads changed the exported model's maps; export without them")
    return len(computed)


def _run(proto, batch: int) -> np.ndarray:
    """``proto``'s output for ``batch`` fixed pseudo-random images."""
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    image = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal((batch, *image.shape[1:])).astype(np.float32)
    return session.run(None, {image.name: x})[0]


def _drop_unused(graph) -> None:
    """Remove the nodes whose outputs nothing uses, then the initializers nothing reads."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {x for n in graph.node for x in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {x for n in graph.node for x in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def export_onnx(model, path: str | Path, opset: int = 17, half: bool = False) -> Path:
    """Write ``model`` (a SaliencyModel) as ONNX with a dynamic batch dimension; ``half``
    stores its weights as float16 (see :func:`half_weights`)."""
    import io

    import onnx
    import torch

    from salmap.leakage import recipe_with_record  # with the record of its training images

    class WithActivation(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m.activate(self.m(x))

    model = model.cpu()
    net = WithActivation(model).eval()  # a wrapper left in train mode would leave model in it too
    h, w = model.config.input_size
    example = torch.zeros(1, 3, h, w)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape checks that are constant here
        torch.onnx.export(
            net,
            (example,),
            buf,
            input_names=["image"],
            output_names=["saliency"],
            opset_version=opset,
            dynamo=False,
            training=torch.onnx.TrainingMode.PRESERVE,  # keep BatchNorm: see half_weights
            dynamic_axes={"image": {0: "batch"}, "saliency": {0: "batch"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {"model": model.config.to_dict(), "training": recipe_with_record(model)}
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    static_pads(proto)
    if half:
        half_weights(proto)
    onnx.checker.check_model(proto)
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def quantize_int8(source: str | Path, path: str | Path, images, max_images: int = 64) -> Path:
    """Write ``source`` (an fp32 ONNX export) with its convolutions in int8, by onnxruntime's
    static quantization: weights per channel, activations calibrated (min-max) on ``images`` (paths or arrays; the
    first ``max_images``, which must be training images: calibrating on images then scored is
    selection on them), each prepared as the model prepares its inputs."""
    import tempfile

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from salmap.inference import read_input

    config = OnnxModel(source).config
    name = "image"

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.todo = iter(list(images)[:max_images])

        def get_next(self):
            image = next(self.todo, None)
            if image is None:
                return None
            return {name: read_input(image, config, keep_pixels=False)[1][None]}

    with tempfile.TemporaryDirectory() as tmp:
        ready, out = Path(tmp) / "ready.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(source), str(ready), skip_symbolic_shape=True)
        quantize_static(
            str(ready),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],  # the encoder's work; the head's sums stay float
        )
        proto = onnx.load(str(out))
    meta = onnx.load(str(source), load_external_data=False).metadata_props
    del proto.metadata_props[:]
    proto.metadata_props.extend(meta)  # salmap's config and training record, unchanged
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), or the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxModel:
    """An ONNX export served by onnxruntime, with the same ``predict`` API as SaliencyModel."""

    def __init__(self, path: str | Path, threads: int | None = None, providers=None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise SalmapError(
                "serving .onnx models needs onnxruntime: pip install onnxruntime"
            ) from None
        path = Path(path)
        if not path.is_file():
            raise SalmapError(f"{path}: ONNX model not found")
        self.path, self.threads = path, threads
        self.session = self._session(providers or ort.get_available_providers())
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise SalmapError(
                f"{path}: ONNX model without salmap's config; export it with `salmap export`"
            )
        info = json.loads(meta[METADATA_KEY])
        self.config = ModelConfig.from_dict(info["model"])
        self.training_recipe = info.get("training", {})
        self.source = str(path)
        self.input_name = self.session.get_inputs()[0].name

    def _session(self, providers):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # onnxruntime's default is one thread per core of the machine, even in a process held
        # to fewer (taskset, a container's cpuset), where its threads then contend for the same
        # core: pinned to one core, default's model took twice as long as with one thread
        opts.intra_op_num_threads = self.threads or usable_cpus()
        try:
            return ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own error types
            raise SalmapError(f"{self.path}: onnxruntime cannot load it ({e})") from None

    def use_threads(self, threads: int) -> None:
        """Run on ``threads`` CPU threads (onnxruntime's default is one per core, which
        oversubscribes a machine shared by several model processes)."""
        self.threads = threads
        options = self.session.get_provider_options()  # e.g. the CUDA device chosen
        providers = [(p, options.get(p, {})) for p in self.session.get_providers()]
        self.session = self._session(providers)

    def use_cuda(self, device: str = "cuda") -> None:
        """Run on CUDA device ``cuda`` or ``cuda:N`` (onnxruntime-gpu's provider)."""
        index = int(device.partition(":")[2] or 0)
        self.session = self._session(
            [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(
            None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        )[0]
        return out[:, 0]

    def predict(self, image, **page) -> np.ndarray:
        """As :meth:`salmap.models.model.MapModel.predict`."""
        return self.predict_batch([image], **page)[0]

    def predict_batch(self, images, batch_size: int = 8, **page) -> list[np.ndarray]:
        from salmap.inference import predict_images

        return predict_images(self, images, batch_size, **page)
