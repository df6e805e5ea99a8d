"""``salmap export --model PATH --format onnx --out FILE``: a deployable copy of a model."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (served by onnxruntime, no torch)")
    p.add_argument(
        "--model", default="default", help="'default', 'accurate', a model folder or .safetensors"
    )
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument(
        "--half",
        action="store_true",
        help="store the weights as float16 (half the file; the arithmetic stays float32)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from salmap.commands import new_output
    from salmap.export import export_onnx
    from salmap.models.io import load_model

    out = new_output(args.out, args.overwrite)
    path = export_onnx(load_model(args.model, runner="torch"), out, args.opset, args.half)
    print(f"wrote {path}")
    return 0
