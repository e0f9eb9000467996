"""The ``dancenow`` command line: one subcommand per stage.

Imports of heavy libraries (mediapipe, datasets, torch) happen inside the commands, so
``dancenow --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

DEMO_ROOT = Path("outputs/demo")
DEMO_RAW = DEMO_ROOT / "raw"
DEMO_DATASET = DEMO_ROOT / "dataset"
DEMO_CONSENT_SIGNED = date(2026, 1, 1)  # fixed so that the demo is deterministic


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except None and False (the help line says what unset means).

    Descriptions are wrapped paragraph by paragraph (a blank line in the text starts a new one), and
    no line is broken at a hyphen, so that paths such as ``outputs/runs/detector-demo`` stay whole
    and can be copied."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            textwrap.fill(
                " ".join(paragraph.split()),
                width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_on_hyphens=False,
                break_long_words=False,
            )
            for paragraph in text.split("\n\n")
        )


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (counts of workers, frames)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def count_or_all(text: str) -> int:
    """An argparse type: an integer of at least 0, where 0 means all."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (all) or more, got {text}")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (ports, quality settings, sizes)."""

    def parse(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text}")
        return value

    return parse


def above_0_up_to(high: float) -> Callable[[str], float]:
    """An argparse type: a number above 0 and at most ``high`` (seconds, frame rates)."""

    def parse(text: str) -> float:
        value = _number(text)
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"must be above 0 and at most {high:g}, got {text}")
        return value

    return parse


def fraction(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def add_config_options(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    """``--config`` (a YAML file of ray_configs/) and repeatable ``--set`` overrides."""
    parser.add_argument(
        "--config",
        default=default,
        help=f"{what} config YAML (see ray_configs/; when the default file is missing, as outside a checkout "
        "of the repository, the built-in defaults)",
    )
    parser.add_argument(
        "--set", action="append", metavar="SECTION.FIELD=VALUE", help="override a config field (repeatable)"
    )


def config_file(args: argparse.Namespace, default: str) -> str | None:
    """``--config``'s file; None (the built-in defaults) when it is the default, which is a file of the
    repository's ray_configs/, and the command runs outside a checkout."""
    return None if args.config == default and not Path(default).exists() else args.config


def _add_parser(
    sub: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description, formatter_class=_Formatter
    )
    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _add_extraction_options(parser: argparse.ArgumentParser) -> None:
    from .pose.base import available_detectors

    parser.add_argument(
        "--detector",
        choices=available_detectors(),
        default="mediapipe-holistic",
        help="pose detector backend",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="detector processes, or Ray actors with --backend ray (default: every core of this machine; "
        "with ray, every CPU of the cluster)",
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: a process pool on this machine; ray: a pool of Ray actors on a cluster (see --ray-address)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster address for --backend ray (default: start a local Ray)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="pose cache, keyed by video content and detector version (default: $DANCENOW_CACHE/poses, "
        "else ~/.cache/dancenow/poses); makes re-runs and interrupted runs resume",
    )
    parser.add_argument(
        "--smoothing",
        choices=("auto", "median", "gaussian", "none"),
        default="auto",
        help="temporal smoothing of keypoints: auto = 7-frame confidence-aware median, Gaussian at >= 60 fps",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


# ------------------------------------------------------------------------------------------------


def cmd_demo_data(args: argparse.Namespace) -> int:
    from .consent import write_synthetic_consent
    from .demo import generate_demo

    clips = generate_demo(
        args.out,
        seed=args.seed,
        target_seconds=args.target_seconds,
        source_seconds=args.source_seconds,
        n_sources=args.sources,
        size=args.size,
        fps=args.fps,
        progress=not args.no_progress,
    )
    roles: dict[str, list[str]] = {}
    for clip in clips:
        roles.setdefault(clip.subject_id, []).append(clip.role)
    for subject_id, subject_roles in roles.items():
        write_synthetic_consent(
            Path(args.out) / subject_id, subject_id, subject_roles, signed=DEMO_CONSENT_SIGNED, seed=args.seed
        )
    for clip in clips:
        print(
            f"{clip.role:6s} {clip.video_path}  ({clip.n_frames} frames, {clip.width}x{clip.height} @ {clip.fps:g} fps)"
        )
    print(f"wrote {len(clips)} clips and {len(roles)} consent manifests (marked synthetic) under {args.out}")
    return 0


def cmd_pose_extract(args: argparse.Namespace) -> int:
    from .pose import PoseExtractionError, extract_poses, smooth_poses, write_openpose_json
    from .quality import detection_rates
    from .video import probe

    videos = list(dict.fromkeys(Path(v) for v in args.videos))  # a file named twice is done once
    infos = {str(v): probe(v) for v in videos}  # fail early, naming a bad file, before any work
    written: dict[str, Path] = {}
    for video in videos:  # outputs are named by stem: two videos must not write one file
        other = written.setdefault(video.stem, video)
        if other != video:
            raise PoseExtractionError(
                f"{other} and {video} would both write {args.out / (video.stem + '.npz')}; "
                "extract them in separate runs with different --out"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    results = extract_poses(
        videos,
        detector=args.detector,
        workers=args.workers,
        backend=args.backend,
        ray_address=args.ray_address,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
    )
    for video in videos:
        seq = results[str(video)]
        if args.smoothing != "none":
            seq = smooth_poses(seq, infos[str(video)].fps, method=args.smoothing)
        target = args.out / f"{video.stem}.npz"
        seq.save(target)
        if args.openpose_json:
            write_openpose_json(seq, args.out / f"{video.stem}_openpose", video.stem)
        rates = detection_rates(seq)
        print(
            f"{video} -> {target}: {len(seq)} frames; person {100 * rates['person']:.0f}%, "
            f"face {100 * rates['face']:.0f}%, hands {100 * rates['hands']:.0f}%"
        )
    return 0


def cmd_dataset_build(args: argparse.Namespace) -> int:
    from .build import BuildOptions, build_dataset

    result = build_dataset(
        BuildOptions(
            raw_dir=args.raw,
            out_dir=args.out,
            name=args.name,
            test_fraction=args.test_fraction,
            as_of=args.as_of,
            detector=args.detector,
            workers=args.workers,
            backend=args.backend,
            ray_address=args.ray_address,
            cache_dir=args.cache_dir,
            smoothing=args.smoothing,
            min_person_rate=args.min_person_rate,
            license=args.license,
            crf=args.crf,
            progress=not args.no_progress,
        )
    )
    report = result.report
    for s in report["subjects"]:
        print(f"{s['status']:8s} {s['subject_id']}: {'; '.join(s['reasons'])}")
    for split, info in report["splits"].items():
        print(f"split {split:6s}: {info['rows']} rows, {info['frames']} frames")
    for clip in report["clips"]:
        err = clip.get("ground_truth_error", {}).get("raw")
        if err and err["body_px"] is not None:

            def px(value: float | None) -> str:  # None: no detected point had a true one to compare
                return "no points compared" if value is None else f"{value:.2f} px"

            print(
                f"{clip['clip']}: detector vs ground truth: body {px(err['body_px'])} "
                f"({err['body_pct_of_height']:.2f}% of height), face {px(err['face_px'])}, "
                f"hands {px(err['hands_px'])}"
            )
    print(f"dataset: {result.out_dir} (card README.md, report build_report.md); load it with")
    print(f"  python -c 'import datasets; print(datasets.load_dataset(\"{result.out_dir}\"))'")
    return 0


def cmd_dataset_publish(args: argparse.Namespace) -> int:
    from .hub import publish

    plan = publish(args.folder, args.repo_id, private=args.private, gated=args.gated, dry_run=args.dry_run)
    print(("DRY RUN (nothing sent): " if args.dry_run else "published: ") + plan.describe())
    return 0


def cmd_dataset_info(args: argparse.Namespace) -> int:
    from .hub import dataset_info

    info = dataset_info(str(args.target))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0

    def text(value: object) -> str:  # a list or record on one line, without Python's brackets and quotes
        if isinstance(value, list):
            return "; ".join(map(text, value))
        if isinstance(value, dict):
            return ", ".join(f"{k}: {text(v)}" for k, v in value.items())
        return str(value)

    for key, value in info.items():
        if value == {} or value == []:
            print(f"{key}: none")
        elif isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {text(v)}")
        elif isinstance(value, list):
            print(f"{key}:")
            for v in value:
                print(f"  - {text(v)}")
        else:
            print(f"{key}: {value}")
    return 0


# ------------------------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dancenow")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dancenow",
        description="Do-as-I-do motion transfer after Everybody Dance Now: consented dance datasets, "
        "pose extraction, training, transfer, forensics and a dashboard.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"dancenow {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add_parser(
        sub,
        "demo-data",
        "render the bundled synthetic demo subject and dancers (mp4 + consent + ground truth)",
        "Render a procedurally generated, textured human figure doing standard moves (the target) and "
        "several differently built dancers (the sources) as real H.264 videos, with ground-truth "
        "keypoints and consent manifests marked synthetic. Deterministic from --seed.",
    )
    p.add_argument(
        "--out", type=Path, default=DEMO_RAW, help="output folder (the raw layout `dataset build` reads)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same videos")
    p.add_argument(
        "--target-seconds",
        type=above_0_up_to(3600),
        default=120.0,
        help="length of the target's standard-moves clip",
    )
    p.add_argument(
        "--source-seconds", type=above_0_up_to(3600), default=20.0, help="length of each source dance"
    )
    p.add_argument("--sources", type=int_in(0, 100), default=3, help="number of source dancers")
    p.add_argument("--size", type=int_in(32, 2048), default=256, help="frame width and height in pixels")
    p.add_argument("--fps", type=above_0_up_to(240), default=30.0, help="frame rate")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_demo_data)

    pose = _add_parser(sub, "pose", "pose extraction", "Pose extraction commands.")
    pose_sub = pose.add_subparsers(dest="pose_command", metavar="COMMAND")
    p = _add_parser(
        pose_sub,
        "extract",
        "detect body, face and hand keypoints in videos",
        "Detect per-frame body (BODY_25), face (70) and hand (2x21) keypoints in the OpenPose layout, "
        "using all cores (or a Ray cluster), with a cache that makes re-runs and interrupted runs resume. "
        "Writes VIDEO_STEM.npz (arrays body, face, hands) per video.",
    )
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("--out", type=Path, default=Path("outputs/poses"), help="output folder")
    p.add_argument("--openpose-json", action="store_true", help="also write OpenPose-style JSON per frame")
    _add_extraction_options(p)
    p.set_defaults(func=cmd_pose_extract)

    ds = _add_parser(
        sub, "dataset", "build, publish and inspect the Hugging Face dataset", "Dataset commands."
    )
    ds_sub = ds.add_subparsers(dest="dataset_command", metavar="COMMAND")
    p = _add_parser(
        ds_sub,
        "build",
        "build a Hub-ready dataset folder from videos and consent manifests",
        "Check consent, detect and smooth keypoints, split target clips in time (train, then test), "
        "re-encode, and write Parquet shards with a dataset card and a build report. Atomic: a failed "
        "build leaves the previous dataset intact.\n\nInput layout: RAW/<subject_id>/consent.yaml, "
        "RAW/<subject_id>/target/*.mp4, RAW/<subject_id>/source/*.mp4, optional "
        "RAW/<subject_id>/openpose/<clip>/*.json (imported instead of detecting).",
    )
    p.add_argument("--raw", type=Path, default=DEMO_RAW, help="input folder, one sub-folder per subject")
    p.add_argument(
        "--out", type=Path, default=DEMO_DATASET, help="dataset folder to write (replaced atomically)"
    )
    p.add_argument("--name", default="dancenow-demo-dance", help="dataset name shown in the card")
    p.add_argument(
        "--test-fraction",
        type=_fraction,
        default=0.2,
        help="last fraction of each target clip held out as test, in [0, 1)",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="date consent is checked against, YYYY-MM-DD (default: today)",
    )
    p.add_argument(
        "--min-person-rate",
        type=fraction,
        default=0.5,
        help="fail if a person is detected in fewer than this fraction of a clip's frames",
    )
    p.add_argument(
        "--license",
        default="other",
        help="licence id for the card; 'other' writes dancenow's consent-bound licence (LICENSE.md)",
    )
    p.add_argument(
        "--crf",
        type=int_in(0, 51),
        default=18,
        help="H.264 quality of the stored videos (0-51, lower is better)",
    )
    _add_extraction_options(p)
    p.set_defaults(func=cmd_dataset_build)

    p = _add_parser(
        ds_sub,
        "publish",
        "upload a built dataset to the Hugging Face Hub (and delete what revocation removed)",
        "Create the dataset repo (private and gated options), upload the card, licence and Parquet "
        "files, delete remote files the build no longer has (revoked or expired consent) and then squash "
        "the repo history so they leave old revisions too. The token comes from HF_TOKEN or "
        "`hf auth login` and is never printed.",
    )
    p.add_argument("folder", type=Path, nargs="?", default=DEMO_DATASET, help="built dataset folder")
    p.add_argument("--repo-id", required=True, help="Hub dataset repo, ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument(
        "--gated",
        choices=("manual", "auto", "none"),
        default="manual",
        help="access requests: manual = each approved by you, auto = granted on acknowledgement, "
        "none = not gated (anyone can download)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be uploaded and deleted; send nothing"
    )
    p.set_defaults(func=cmd_dataset_publish)

    p = _add_parser(
        ds_sub,
        "info",
        "describe a built dataset folder or a Hub dataset repo",
        "Splits, rows, frames, subjects and their consent status, files and publish history of a dataset "
        "folder; or a Hub repo's visibility, gating and files.",
    )
    p.add_argument(
        "target", nargs="?", default=str(DEMO_DATASET), help="dataset folder or Hub repo id ORG/NAME"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_dataset_info)

    for register in _stage_registrars():
        register(sub)
    return parser


def _stage_modules() -> list[Any]:
    """The ``cli`` modules of later stages (synthesis, forensics, dashboard) that exist."""
    import importlib

    modules = []
    for package in ("synthesis", "forensics", "dashboard"):
        try:
            modules.append(importlib.import_module(f"{package}.cli"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.cli":
                raise
    return modules


def _stage_registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Later stages add their subcommands through ``cli.register``."""
    return [module.register for module in _stage_modules()]


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors printed as one line (evaluated only when an exception reaches ``main``)."""
    from .build import BuildError
    from .consent import ConsentError
    from .hub import PublishError
    from .pose import OpenPoseFormatError, PoseExtractionError
    from .video import VideoError

    errors: tuple[type[BaseException], ...] = (
        BuildError, ConsentError, PublishError, VideoError, OpenPoseFormatError, PoseExtractionError,
    )  # fmt: skip
    for module in _stage_modules():
        if hasattr(module, "known_errors"):
            errors += tuple(module.known_errors())
    return errors


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command's own parser that ``args`` went through: ``dancenow dataset build``'s for
    ``dancenow dataset build ...``."""
    while True:
        subcommands = _subcommands(parser)
        name = getattr(args, subcommands.dest, None) if subcommands else None
        if subcommands is None or name not in subcommands.choices:
            return parser
        parser = subcommands.choices[name]


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    """The parser's sub-commands (``dataset``'s build, publish, info), if it has any."""
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would show the top-level usage; show the one of the command that was meant
        chosen = _chosen_parser(parser, args)
        hint = ""
        if "--source" in chosen._option_string_actions and not unknown[0].startswith("-"):
            hint = f" (a source video or dataset goes after --source: --source {unknown[0]})"
        chosen.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if not hasattr(args, "func"):  # `dancenow` or a group (`dancenow forensics`) with no command: list them
        group = _chosen_parser(parser, args)
        subcommands = _subcommands(group)
        assert subcommands is not None  # only a group's parser has no func of its own
        names = list(subcommands.choices)
        group.print_help(sys.stderr)
        print(
            f"\n{group.prog}: error: name a command ({', '.join(names)}); "
            f"`{group.prog} {names[0]} --help` explains it",
            file=sys.stderr,
        )
        return 2
    try:
        code: int = args.func(args)
    except _known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file we cannot write or read (permissions, a full disk, a bad path)
        if exc.filename is None:
            raise
        why = str(exc.strerror or exc).lower()
        print(
            f"error: {exc.filename}: {why}; check the path, its permissions and free space", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume (finished work is cached)", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
