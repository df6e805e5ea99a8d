"""``salmap train [CONFIG] --data PATH``: train a saliency model from a YAML recipe."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (configs/seed.yaml is the seed's recipe)",
        description="Train a saliency model. Flags override the config; --set overrides any field. "
        "Launch with torchrun for several processes or GPUs.",
    )
    p.add_argument(
        "config", nargs="?", help="YAML recipe (default: built-in defaults = the seed's recipe)"
    )
    p.add_argument(
        "--data",
        action="append",
        help="dataset folder (data.path); repeat it to train on the union of several datasets",
    )
    p.add_argument(
        "--format", help="dataset layout (data.format) of every --data folder, guessed when omitted"
    )
    p.add_argument("--out", help="run folder (out)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (optim.lr)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="write RUN/report/ (salmap report) when the run ends (report=true)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any field, e.g. --set optim.encoder_lr=0 --set 'loss={kld: 1}'",
    )
    p.set_defaults(run=run)


FLAG_FIELDS = {
    "data": "data.path",
    "format": "data.format",
    "out": "out",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "optim.lr",
    "device": "device",
}


def run(args) -> int:
    import json

    from salmap.errors import SalmapError
    from salmap.train import load_config, train
    from salmap.train.config import resume_config

    if args.data is not None:  # one folder as a string, several as a list (JSON is YAML)
        args.data = args.data[0] if len(args.data) == 1 else json.dumps(args.data)
    overrides = [
        f"{key}={getattr(args, flag)}"
        for flag, key in FLAG_FIELDS.items()
        if getattr(args, flag) is not None
    ]
    if args.report:
        overrides.append("report=true")
    if args.resume and args.out is None:
        raise SalmapError("--resume needs --out RUN, the folder of the run to continue")
    if args.resume and args.config is None:  # the run's own recipe
        cfg = resume_config(args.out, overrides + args.overrides)
    else:
        cfg = load_config(args.config, overrides + args.overrides)
    out = train(cfg, resume=args.resume)
    print(f"run written to {out} (model: {out / 'models' / 'best'})")
    return 0
