"""``dancenow forensics``: provenance marks (``verify``) and the learned detector (``data``, ``train``,
``evaluate``, ``detect``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dataset.cli import _Formatter, add_config_options, config_file, count_or_all

DETECTOR_CONFIG = "ray_configs/detector_demo.yaml"
DETECTOR_RESULTS = "outputs/evaluation/forensics-demo"


def cmd_verify(args: argparse.Namespace) -> int:
    from .provenance import verify_provenance
    from .watermark import detect_watermark

    watermark = detect_watermark(args.video, max_frames=args.max_frames)
    provenance = verify_provenance(args.video, args.record)
    if args.json:
        print(
            json.dumps(
                {"video": args.video, "watermark": watermark.to_dict(), "provenance": provenance.to_dict()},
                indent=1,
            )
        )
        return 0
    print(f"{args.video}:")
    print(f"  {watermark.describe()}")
    print(f"  {provenance.describe()}")
    content = provenance.content or {}
    if provenance.found and content:
        model = content.get("model") or {}
        source = content.get("source") or {}
        target = content.get("target") or {}
        print(f"  made by {(content.get('generator') or {}).get('tool')} {(content.get('generator') or {}).get('version')} "
              f"on {content.get('created')}: model {model.get('path')} (sha256 {str(model.get('sha256'))[:12]}…)")  # fmt: skip
        print(
            f"  target {target.get('subject')} (consent {_consent(target)}), source {source.get('name')} (consent {_consent(source)})"
        )
    if watermark.detected and not provenance.intact:
        print(
            "  the mark says dancenow made this video; the record is missing or does not match (re-encoded or edited)"
        )
    return 0


def _consent(part: dict[str, object]) -> str:
    consent = part.get("consent")
    if isinstance(consent, dict):
        return f"document sha256 {str(consent.get('consent_document_sha256'))[:12]}…, signed {consent.get('date_signed')}"
    return "not recorded"


def _detector_config(args: argparse.Namespace) -> object:
    from .config import load_detector_config

    return load_detector_config(config_file(args, DETECTOR_CONFIG), args.set or [])


def cmd_data(args: argparse.Namespace) -> int:
    from .config import DetectorConfig
    from .data import build_detector_data

    config = _detector_config(args)
    assert isinstance(config, DetectorConfig)
    data = build_detector_data(config, progress=not args.quiet, force=args.force)
    videos = data.videos
    crops = data.manifest["crops"]
    print(f"{data.folder}: {sum(v.label == 0 for v in videos)} real and {sum(v.label == 1 for v in videos)} synthetic "
          f"videos ({sum(v.split == 'test' for v in videos)} for testing); {crops['train']} training and "
          f"{crops['val']} validation crops of {crops['size']} px")  # fmt: skip
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import DetectorConfig
    from .train import train_detector

    config = _detector_config(args)
    assert isinstance(config, DetectorConfig)
    print(f"training detector {config.name!r} ({config.runtime.num_workers} Ray worker(s), backbone "
          f"{config.model.backbone}, {config.model.input_size} px crops) → {config.run_dir}")  # fmt: skip
    result = train_detector(config)
    val = result.validation.get("video", {})
    print(f"done: {result.steps} steps; thresholds frame {result.thresholds['frame']:.3f} / video "
          f"{result.thresholds['video']:.3f} (validation video accuracy {val.get('accuracy', float('nan')):.3f}); "
          f"checkpoint {result.checkpoint}")  # fmt: skip
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_detector, markdown_report

    results = evaluate_detector(
        args.model,
        args.out,
        data_folder=args.data,
        conditions=args.conditions.split(",") if args.conditions else None,
        progress=not args.quiet,
    )
    print(markdown_report(results))
    print(f"results: {Path(args.out) / 'results.json'}")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from .detect import detect_video

    reports = [detect_video(video, args.model, max_frames=args.max_frames) for video in args.videos]
    if args.json:
        payload = [r.to_dict() for r in reports]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=1))
        return 0
    for report in reports:
        print(report.describe())
        if args.frames:
            for item in report.scored:
                score = "no person" if item["score"] is None else f"{item['score']:.3f}"
                print(f"  frame {item['frame']:>6}: {score}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    forensics = sub.add_parser(
        "forensics",
        help="provenance marks and the learned real-vs-synthetic detector",
        description="Forensics: `verify` checks the invisible watermark and the signed provenance record that "
        "every video `dancenow transfer` writes carries; `detect` judges any video with the learned detector, "
        "which `data`, `train` and `evaluate` build, train and measure.",
        formatter_class=_Formatter,
    )
    commands = forensics.add_subparsers(
        dest="forensics_command", metavar="{verify,detect,data,train,evaluate}"
    )
    p = commands.add_parser(
        "verify",
        help="report a video's watermark and provenance record",
        description="Vote the 32-bit dancenow mark over up to --max-frames frames of VIDEO (present when at least "
        "29 bits match) and check VIDEO.provenance.json: its Ed25519 signature and that it names this very file. "
        "The mark survives re-encoding and resizing; the record's file hash does not (it then says so).",
        formatter_class=_Formatter,
    )
    p.add_argument("video", metavar="VIDEO", help="video file (mp4 or anything the decoder reads)")
    p.add_argument("--record", default=None, help="provenance record (default: VIDEO.provenance.json)")
    p.add_argument(
        "--max-frames",
        type=count_or_all,
        default=64,
        help="frames read for the watermark vote, spread evenly (0 = all)",
    )
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_verify)

    from .config import DEFAULT_DETECTOR_PATH, ROBUSTNESS_CONDITIONS

    p = commands.add_parser(
        "detect",
        help="judge videos with the learned detector: per-frame scores, a per-video verdict",
        description="Find the person in up to --max-frames frames of each VIDEO (pose detector), score each person "
        "crop with the trained classifier (probability synthetic) and give the video a score (sigmoid of the "
        "mean logit) and a verdict against the threshold calibrated at training. Videos without a person get "
        "the verdict 'no person'.",
        formatter_class=_Formatter,
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video file(s)")
    p.add_argument(
        "--model", default=str(DEFAULT_DETECTOR_PATH), help="detector checkpoint (forensics train)"
    )
    p.add_argument(
        "--max-frames", type=count_or_all, default=64, help="frames judged, spread evenly (0 = all)"
    )
    p.add_argument("--frames", action="store_true", help="also list every judged frame's score")
    p.add_argument("--json", action="store_true", help="print the full report(s) as JSON")
    p.set_defaults(func=cmd_detect)

    p = commands.add_parser(
        "data",
        help="make the detector's real and synthetic videos and training crops",
        description="Real videos from the dataset's target and source clips; synthetic videos from every model in "
        "data.generators performing the same motions (without the watermark); person boxes, an H.264 re-encoded "
        "copy of each training video, and the training crops. Splits by motion and generator; held-out "
        "generators only make test videos. Reused when already built with the same settings and models; an "
        "interrupted build resumes.",
        formatter_class=_Formatter,
    )
    add_config_options(p, DETECTOR_CONFIG, "detector")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild from scratch, even if built or partly built with the same settings",
    )
    p.set_defaults(func=cmd_data)

    p = commands.add_parser(
        "train",
        help="fine-tune the ImageNet classifier on Ray Train and calibrate its thresholds",
        description="Fine-tune the classifier (MobileNetV2 by default, ImageNet weights) on the training crops with "
        "blur, JPEG, rescaling, H.264 and jitter augmentation, on Ray Train workers; then calibrate the frame "
        "and video thresholds on the validation segments. Writes RUN/detector.pt; run again to resume.",
        formatter_class=_Formatter,
    )
    add_config_options(p, DETECTOR_CONFIG, "detector")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser(
        "evaluate",
        help="AP, ROC AUC, accuracy and EER on held-out videos and generators, and a robustness table",
        description="Score the test videos of the detector's data (frame and video level; generators seen in "
        "training and held-out ones) clean and after JPEG, H.264, resizing and blur; writes results.json, "
        "results.md and curves/roc_pr.png to OUT.",
        formatter_class=_Formatter,
    )
    p.add_argument("--model", default=str(DEFAULT_DETECTOR_PATH), help="detector checkpoint")
    p.add_argument("--data", default=None, help="detector data folder (default: the one it was trained on)")
    p.add_argument("--out", default=DETECTOR_RESULTS, help="results folder")
    p.add_argument(
        "--conditions",
        default=None,
        help=f"comma-separated robustness conditions, from {', '.join(ROBUSTNESS_CONDITIONS)} (default: all; "
        "clean is always included)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)


def known_errors() -> tuple[type[BaseException], ...]:
    from .data import DetectorDataError
    from .evaluate import ForensicsEvaluationError
    from .provenance import ProvenanceError
    from .train import DetectorCheckpointError

    return (
        ProvenanceError,
        DetectorDataError,
        ForensicsEvaluationError,
        DetectorCheckpointError,
    )
