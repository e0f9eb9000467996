"""``dancenow train body|face``, ``dancenow transfer``, ``dancenow evaluate``, ``dancenow ablation`` and
``dancenow model publish``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dataset.cli import _Formatter, add_config_options, config_file, positive_int

if TYPE_CHECKING:
    from .config import TrainConfig

DEMO_CONFIG = "ray_configs/demo_cpu.yaml"
DEMO_RUN = Path("outputs/runs/demo")


def _default_model() -> str:
    for name in ("face.pt", "body.pt"):
        if (DEMO_RUN / name).is_file():
            return str(DEMO_RUN / name)
    return str(DEMO_RUN / "face.pt")


def _config(args: argparse.Namespace, overrides: list[str] | None = None) -> TrainConfig:
    """The config of ``--config`` with ``--set`` and then ``overrides`` applied."""
    from .config import load_config

    return load_config(config_file(args, DEMO_CONFIG), [*(args.set or []), *(overrides or [])])


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    overrides = []
    if args.name:
        overrides.append(f"name={args.name}")
    if args.workers:
        overrides.append(f"runtime.num_workers={args.workers}")
    if args.gpu:
        overrides.append("runtime.use_gpu=true")
    config = _config(args, overrides)
    print(f"training {args.stage} of run {config.name!r} ({config.runtime.num_workers} Ray worker(s), "
          f"{'GPU' if config.runtime.use_gpu else 'CPU'}, {config.data.height}×{config.data.width}) → {config.run_dir}")  # fmt: skip
    result = train(config, args.stage, body_checkpoint=args.body if args.stage == "face" else None)
    print(f"done: {result.steps} steps; checkpoint {result.checkpoint}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from .transfer import transfer

    out = Path(args.out)
    result = transfer(
        args.model,
        args.source,
        out,
        clip=args.clip,
        side_by_side=args.side_by_side,
        use_face=not args.no_face,
        detector=args.detector,
        workers=args.workers,
        smoothing=args.smoothing,
        max_frames=args.max_frames,
        precision=args.precision,
        normalization=args.normalization,
        progress=not args.quiet,
    )
    for note in result.notes:
        print(f"normalisation: {note}")
    print(
        f"wrote {result.output} ({result.frames} frames at {result.fps:g} fps, {result.frames_per_second:.1f} frames/s)"
    )
    if result.side_by_side:
        print(f"wrote {result.side_by_side} (source | stick figure | output)")
    print(f"wrote {result.record} (model, source and normalisation parameters)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, evaluate_transfer, markdown_table

    out = Path(args.out) if args.out else None
    if out is None:  # outputs/evaluation/RUN-STAGE[-transfer], after the checkpoint's run folder and file
        model = Path(args.model)
        name = f"{model.parent.name}-{model.stem}" if model.suffix == ".pt" else model.name.replace("/", "-")
        out = Path("outputs/evaluation") / (
            (name.strip("-") or "model") + ("-transfer" if args.source else "")
        )
    if args.source:
        results = evaluate_transfer(
            args.model,
            args.source,
            clip=args.clip,
            out=out,
            max_frames=args.max_frames,
            progress=not args.quiet,
        )
    else:
        results = evaluate(
            args.model,
            args.dataset,
            out=out,
            max_frames=args.max_frames,
            lpips_net=args.lpips,
            progress=not args.quiet,
        )
    print(markdown_table(results))
    print(
        f"wrote {out}/results.json, results.md and {len(results['samples'])} samples "
        f"({results['frames']} frames, {results['frames_per_s']:.1f} frames/s)"
    )
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from .ablation import run_ablation

    config = _config(args)
    out = Path(args.out) if args.out else Path("outputs/evaluation") / f"ablation-{config.name}"
    summary = run_ablation(
        config,
        out=out,
        source=args.source,
        clip=args.clip,
        max_frames=args.max_frames,
        transfer_frames=args.transfer_frames,
        transfer=not args.no_transfer,
        lpips_net=args.lpips,
        progress=not args.quiet,
    )
    print(summary["markdown"])
    print(f"wrote {out}/ablation.json, ablation.md, curves/ and one evaluation folder per variant")
    return 0


def cmd_model_publish(args: argparse.Namespace) -> int:
    from .hub import plan_as_json, publish_model

    plan = publish_model(args.model, args.repo_id, private=args.private, dry_run=args.dry_run)
    if args.json:
        print(plan_as_json(plan))
    else:
        print(plan.describe())
        print("dry run: nothing uploaded" if args.dry_run else f"published models/{plan.repo_id}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from dataset.pose.base import available_detectors

    from .config import PRECISIONS

    train = sub.add_parser(
        "train",
        help="train the body GAN or the face GAN with Ray Train",
        description="Train a target subject's model on Ray Train (1 CPU worker to N GPU workers). "
        "`body` trains the temporal body GAN (global generator, then the local enhancer if configured); "
        "`face` then trains the face residual GAN on top of the frozen body model. "
        "A run lives in the folder RUN = the config's runtime.output_dir/NAME (outputs/runs/demo for the demo); "
        "running the same command again resumes from the latest checkpoint.",
        formatter_class=_Formatter,
    )
    stages = train.add_subparsers(dest="stage", metavar="{body,face}")
    for stage, text in (
        ("body", "the temporal body GAN (writes RUN/body.pt)"),
        ("face", "the face GAN on top of a trained body model (writes RUN/face.pt)"),
    ):
        p = stages.add_parser(stage, help=text, description=f"Train {text}.", formatter_class=_Formatter)
        add_config_options(p, DEMO_CONFIG, "training")
        p.add_argument("--name", default=None, help="run name (default: the config's name)")
        p.add_argument(
            "--workers", type=positive_int, default=None, help="Ray Train workers (default: the config's)"
        )
        p.add_argument("--gpu", action="store_true", help="one GPU per worker")
        if stage == "face":
            p.add_argument("--body", default=None, help="body checkpoint (default: RUN/body.pt)")
        p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "transfer",
        help="make the target subject dance a source's moves",
        description="Detect and smooth the source's poses, normalise them to the target's body and frame, draw "
        "stick figures and run the generator (fed its own previous frame) and the face residual; writes an "
        "H.264 video, optionally a side-by-side video, and OUT.transfer.json with what made it.",
        formatter_class=_Formatter,
    )
    p.add_argument(
        "--model", default=_default_model(), help="checkpoint file, run folder or Hub model repo id"
    )
    p.add_argument(
        "--source",
        default="outputs/demo/dataset",
        help="a video file, or a dataset folder / Hub dataset repo id (then --clip picks the clip)",
    )
    p.add_argument(
        "--clip", default=None, help="clip id in a dataset source (default: its first source clip)"
    )
    p.add_argument("--out", default="outputs/demo/transfer/transfer.mp4", help="output video (H.264 mp4)")
    p.add_argument(
        "--side-by-side", default=None, help="also write source | stick figure | output to this mp4"
    )
    p.add_argument("--no-face", action="store_true", help="skip the face GAN even if the model has one")
    p.add_argument(
        "--detector", choices=available_detectors(), default="mediapipe-holistic", help="pose detector"
    )
    p.add_argument(
        "--workers", type=positive_int, default=None, help="pose detector processes (default: all cores)"
    )
    p.add_argument(
        "--smoothing", choices=["auto", "median", "gaussian", "none"], default="auto", help="pose smoothing"
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="transfer only the first N frames (default: all)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="inference precision: fp32 is exact; auto = bf16 where the hardware has it natively (a GPU, or a "
        "CPU with AVX512-BF16 or AMX), faster there, else fp32; bf16 = always (slow on other CPUs)",
    )
    p.add_argument(
        "--normalization",
        default=None,
        metavar="TRANSFER_JSON",
        help="reuse the normalisation parameters of a previous transfer (its OUT.transfer.json) instead of fitting",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser(
        "evaluate",
        help="measure a trained model on the target's held-out test frames (paper Tables 1-4)",
        description="Run the model on the poses of the target's held-out test frames (fed its own previous "
        "frame, plus the face residual) and compare with the real frames: SSIM and LPIPS on the pose's "
        "bounding box and on the face box, pose distance and missed detections of the pose detector run on "
        "the generated frames, and flow-warping error / frame-difference statistics against the real video. "
        "Writes OUT/results.json, OUT/results.md (the paper's table layout) and OUT/samples/*.png.",
        formatter_class=_Formatter,
    )
    p.add_argument(
        "--model",
        default=_default_model(),
        help="checkpoint file (RUN/body.pt or RUN/face.pt), run folder or Hub repo id",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="dataset folder or Hub repo id with the target's test split (default: the one the model was trained on)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="results folder (default: outputs/evaluation/RUN-STAGE, after the checkpoint's folder and file, "
        "such as demo-face; with --source, RUN-STAGE-transfer)",
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="evaluate only the first N test frames (default: all)",
    )
    p.add_argument(
        "--source",
        default=None,
        help="evaluate a transfer from this video file or dataset (folder / Hub repo id) instead: no ground "
        "truth, so pose fidelity and temporal coherence only",
    )
    p.add_argument(
        "--clip", default=None, help="clip id in a dataset --source (default: its first source clip)"
    )
    p.add_argument("--lpips", choices=["alex", "vgg"], default="alex", help="LPIPS backbone")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "ablation",
        help="train and evaluate the paper's three variants (pix2pixHD, T.S., T.S. + Face) alike",
        description="From one training config, on the same data and schedule: train pix2pixHD (no temporal "
        "input, no face GAN; run NAME-pix2pixhd), T.S. (run NAME, temporal on) and T.S. + Face (the face GAN "
        "on the T.S. body), reusing runs that already finished and resuming interrupted ones; evaluate each "
        "on the held-out test frames and on a transfer from a source; write ablation.json, ablation.md (the "
        "paper's table with its reported numbers beside ours), curves and one results folder per variant.",
        formatter_class=_Formatter,
    )
    add_config_options(p, DEMO_CONFIG, "training")
    p.add_argument("--out", default=None, help="results folder (default: outputs/evaluation/ablation-NAME)")
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="evaluate only the first N test frames (default: all)",
    )
    p.add_argument(
        "--source",
        default=None,
        help="video file or dataset to evaluate transfers from (default: the training dataset's first source clip)",
    )
    p.add_argument("--clip", default=None, help="clip id in a dataset --source")
    p.add_argument(
        "--transfer-frames",
        type=positive_int,
        default=None,
        help="transfer only the first N source frames (default: all)",
    )
    p.add_argument("--no-transfer", action="store_true", help="skip the transfer evaluation")
    p.add_argument("--lpips", choices=["alex", "vgg"], default="alex", help="LPIPS backbone")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ablation)

    model = sub.add_parser(
        "model",
        help="publish a trained model to the Hugging Face Hub",
        description="Model repos on the Hub: checkpoint, config and a model card.",
        formatter_class=_Formatter,
    )
    model_sub = model.add_subparsers(dest="model_command", metavar="{publish}")
    p = model_sub.add_parser(
        "publish",
        help="upload a checkpoint with its model card",
        description="Stage model.pt, config.yaml and README.md (model card with data, config, metrics) and upload "
        "them to a Hub model repo; load it back with `dancenow transfer --model ORG/NAME`.",
        formatter_class=_Formatter,
    )
    p.add_argument("--model", default=_default_model(), help="checkpoint to publish")
    p.add_argument("--repo-id", required=True, help="Hub model repo ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument(
        "--dry-run", action="store_true", help="stage and print what would be uploaded; upload nothing"
    )
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_model_publish)


def known_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: printed as one line, not a traceback (imported lazily)."""
    from .backbones import BackboneError
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .data import DataError
    from .evaluate import EvaluationError
    from .hub import ModelPublishError
    from .normalize import NormalizationError
    from .train import TrainingError
    from .transfer import TransferError

    return (
        BackboneError,
        CheckpointError,
        ConfigError,
        DataError,
        EvaluationError,
        ModelPublishError,
        NormalizationError,
        TrainingError,
        TransferError,
    )
