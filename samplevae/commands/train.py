"""``samplevae train``: train a new model on a dataset, or resume one with only ``--logdir``."""

from __future__ import annotations

import argparse
import json

from samplevae.commands import add_workspace_arg, print_json

# option -> (params section, field)
_TRAIN_OPTIONS = {
    "batch_size": "batch size (default 64)",
    "learning_rate": "initial learning rate (default 1e-3)",
    "validate_every": "steps between validations (default 100)",
    "checkpoint_every": "steps between checkpoints (default 500)",
    "min_learning_rate": "stop when the learning rate falls to this (default 1e-5)",
    "seed": "seed of initialisation, shuffling and sampling (default 0)",
    "ema_momentum": "validate, save and use a moving average of the weights with this "
    "momentum, e.g. 0.99 (default: off)",
    "clip_norm": "scale a step's gradients down to this global norm when they weigh more "
    "(default 5000; 0: no clipping, the original's)",
}
_MODEL_OPTIONS = {
    "latent_dim": (int, "latent dimensions (default 64)"),
    "iaf_steps": (int, "IAF flow steps (default 5)"),
    "hidden_units": (int, "encoder hidden state units (default 512)"),
    "beta": (float, "weight of the KL term (default 1.0)"),
    "dropout": (float, "dropout rate of the encoder's hidden state and the decoder (default 0.25)"),
    "classifier_dropout": (float, "dropout rate of the classifier's layers (default 0.5)"),
    "decoder_dropout": (float, "dropout rate of the decoder's dense layer (default: --dropout's)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an IAF-VAE on a dataset, or resume one",
        description="Train a model into --logdir on a dataset made with make-dataset. "
        "Run again with only --logdir to resume where it stopped (same dataset, step, "
        "learning rate and optimizer state). Ctrl-C stops after saving a checkpoint.",
    )
    p.add_argument("--logdir", required=True, help="model directory (created if new)")
    p.add_argument("--dataset", default=None, help="dataset name (needed for a new logdir only)")
    add_workspace_arg(p)
    p.add_argument(
        "--num-steps",
        "--num_steps",
        dest="num_steps",
        type=int,
        default=None,
        help="stop when the total step count reaches this (default: on the plateau rule)",
    )
    p.add_argument(
        "--time-budget",
        dest="time_budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop (with a checkpoint) after this many seconds",
    )
    for name, help_ in _TRAIN_OPTIONS.items():
        typ = int if name in ("batch_size", "validate_every", "checkpoint_every", "seed") else float
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=help_)
    p.add_argument(
        "--class-weighting",
        dest="class_weighting",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="weight the classifier loss by inverse class frequency (default: on; "
        "--no-class-weighting for the original's unweighted loss)",
    )
    for name, (typ, help_) in _MODEL_OPTIONS.items():
        p.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=typ,
            default=None,
            help=help_ + "; new models only",
        )
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
        default=None,
        help="Keras mixed-precision policy of training (default auto: mixed_bfloat16 where the "
        "CPU or GPU computes bfloat16 natively, else float32; weights are saved in float32 "
        "whatever it is, and inference is float32)",
    )
    p.add_argument(
        "--strategy",
        choices=("mirrored", "multiworker"),
        default=None,
        help="tf.distribute strategy: 'mirrored' = all local GPUs (else CPU devices), "
        "'multiworker' = several machines configured by TF_CONFIG (see docs/distributed.md)",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="fine-tune: start the new --logdir from this model directory or shipped model "
        "name (its architecture and weights; step and optimizer start from 0)",
    )
    p.add_argument(
        "--params",
        default=None,
        metavar="JSON",
        help="params.json to start a new model from (its model and train parts)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _run_params(args: argparse.Namespace):
    """RunParams to pass to train(), or None to use what the logdir / defaults say."""
    from samplevae.modeldir import ModelDir
    from samplevae.params import RunParams

    train_changes = {
        k: getattr(args, k)
        for k in (*_TRAIN_OPTIONS, "class_weighting", "precision")
        if getattr(args, k) is not None
    }
    if train_changes.get("clip_norm") == 0:
        train_changes["clip_norm"] = None  # --clip-norm 0: no clipping
    model_changes = {k: getattr(args, k) for k in _MODEL_OPTIONS if getattr(args, k) is not None}
    md = ModelDir(args.logdir)
    if md.has_params() and not (args.init and not md.checkpoints()):
        if not (train_changes or model_changes):
            return None
        base = md.params
    elif args.init:
        if not (train_changes or args.params):
            return None  # train() takes the init model's training parameters
        if args.params:
            base = RunParams.load(args.params)
        else:
            from samplevae.pretrained import resolve_model_dir

            base = ModelDir(resolve_model_dir(args.init)).params
            base = base.replace(train=base.train.replace(num_steps=None))
    elif args.params:
        base = RunParams.load(args.params)
    else:
        base = RunParams()
    if "learning_rate" in train_changes and "min_learning_rate" not in train_changes:
        train_changes["min_learning_rate"] = min(
            base.train.min_learning_rate, train_changes["learning_rate"]
        )
    return base.replace(
        model=base.model.replace(**model_changes), train=base.train.replace(**train_changes)
    )


def run(args: argparse.Namespace) -> int:
    from samplevae.training import train

    result = train(
        args.logdir,
        args.dataset,
        workspace=args.workspace,
        run_params=_run_params(args),
        num_steps=args.num_steps,
        progress=not args.no_progress,
        time_budget=args.time_budget,
        strategy=args.strategy,
        init=args.init,
    )
    valid = result.last_valid or {}
    summary = {
        "logdir": str(result.logdir),
        "step": result.step,
        "stopped_reason": result.stopped_reason,
        "learning_rate": result.learning_rate,
        "steps_run": result.steps_run,
        "seconds": round(result.seconds, 1),
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "valid_loss": valid.get("loss"),
        "valid_balanced_accuracy": valid.get("balanced_accuracy"),
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"stopped ({result.stopped_reason}) at step {result.step}, learning rate "
            f"{result.learning_rate:.3g}, {result.steps_run} steps in {result.seconds:.0f} s"
        )
        if valid:
            line = f"validation at step {valid['step']}: loss {valid['loss']:.2f}"
            if "balanced_accuracy" in valid:
                line += f", balanced accuracy {valid['balanced_accuracy']:.3f}"
            print(line)
        print(f"checkpoint: {summary['checkpoint']}")
        if result.stopped_reason == "stopped":
            print(f"resume with: samplevae train --logdir {json.dumps(str(result.logdir))}")
    return 130 if result.stopped_reason == "stopped" else 0
