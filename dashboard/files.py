"""The folders the dashboard may read, the one safe path resolver, and what the folders hold.

**Roots.** ``dancenow dashboard RESULTS_DIR...`` passes the folders it was started with to the
Streamlit process in the environment (:data:`ROOTS_ENV`, a JSON list); :func:`allowed_roots` reads
them back, resolved (symbolic links followed). Nothing outside them is ever opened.

**One resolver.** Every path the dashboard opens comes from a root's listing, from the user (a
query parameter such as ``?path=outputs/demo/transfer/x.mp4``) or from a JSON record (a transfer's
``output``, an evaluation's ``model.path``): all go through :func:`resolve`, which resolves the
path (``..`` and symbolic links included) and refuses it with :class:`PathRefused` unless it lies
inside one of the roots. Relative paths are tried against the record's own folder, each root, each
root's parent (so ``outputs/...`` works for a root called ``outputs``) and the working folder.

**Discovery.** :func:`discover` walks the roots (no deeper than :data:`MAX_DEPTH`, never into
checkpoints, Parquet shards or samples, never through a symbolic link that leads out) and lists training runs, evaluation and ablation results,
transfers, forensics results and dataset folders (:class:`Found`). It only reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOTS_ENV = "DANCENOW_DASHBOARD_ROOTS"
MAX_UPLOAD_ENV = "DANCENOW_DASHBOARD_MAX_UPLOAD_MB"
DEFAULT_ROOTS = ("outputs",)
DEFAULT_MAX_UPLOAD_MB = 200
MAX_DEPTH = 6
MAX_JSON_BYTES = 64 << 20  # a results file larger than this is not one of ours

EVALUATION_SCHEMA = "dancenow.evaluation/1"
ABLATION_SCHEMA = "dancenow.ablation/1"
FORENSICS_SCHEMA = "dancenow.forensics/1"
# Folders that never hold a results file of interest (and can be large).
_SKIP_DIRS = {"data", "samples", "curves", "__pycache__", "node_modules", "frames", "poses"}


class PathRefused(ValueError):
    """A path outside the dashboard's folders, or one that does not exist; the message says which."""


# --------------------------------------------------------------------------------------------------
# Roots and the resolver


def allowed_roots(environ: dict[str, str] | None = None) -> tuple[Path, ...]:
    """The folders the dashboard was started with (resolved), from :data:`ROOTS_ENV`.

    The variable holds a JSON list of paths (what the CLI writes) or, typed by hand, paths separated
    by ``os.pathsep``. Unset: :data:`DEFAULT_ROOTS` relative to the working folder.
    """
    env = os.environ if environ is None else environ
    text = env.get(ROOTS_ENV, "").strip()
    if text.startswith("["):
        names = [str(p) for p in json.loads(text)]
    elif text:
        names = [p for p in text.split(os.pathsep) if p]
    else:
        names = list(DEFAULT_ROOTS)
    roots: list[Path] = []
    for name in names:
        root = Path(name).resolve()
        if root not in roots:
            roots.append(root)
    return tuple(roots)


def max_upload_mb(environ: dict[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    try:
        return max(1, int(env.get(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB)))
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """Whether the resolved ``path`` is one of ``roots`` or lies below one."""
    return any(path == root or root in path.parents for root in roots)


def resolve(
    path: str | os.PathLike[str],
    roots: Sequence[Path],
    *,
    base: str | os.PathLike[str] | None = None,
    must_exist: bool = True,
) -> Path:
    """``path`` resolved and checked to lie inside one of ``roots``; :class:`PathRefused` otherwise.

    Relative paths are tried against ``base`` (the folder of the record that names them), each
    root, each root's parent and the working folder, in that order; the first candidate that is
    inside a root (and exists, with ``must_exist``) wins. ``..``, symbolic links and absolute paths
    cannot lead out: the check is on the fully resolved path.
    """
    text = os.fspath(path)
    if not text or "\x00" in text or len(text) > 4096:
        raise PathRefused(f"{text[:80]!r}: not a usable path")
    raw = Path(text)
    if raw.is_absolute():
        candidates = [raw]
    else:
        bases = [Path(base)] if base is not None else []
        bases += [*roots, *(r.parent for r in roots), Path.cwd()]
        candidates = [b / raw for b in bases]
    missing = False  # a candidate inside the roots that does not exist
    for candidate in candidates:
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):  # a symbolic-link loop
            continue
        if inside(real, roots):
            if not must_exist or real.exists():
                return real
            missing = True
    folders = ", ".join(str(r) for r in roots)
    if missing:
        raise PathRefused(f"not found: {text} (looked inside {folders})")
    raise PathRefused(f"refused: {text} is outside the folders the dashboard was started with ({folders})")


def display_path(path: Path, roots: Sequence[Path]) -> str:
    """How a path inside the roots is shown and put in URLs: from its root's name on
    (``outputs/demo/transfer/x.mp4``), which :func:`resolve` reads back."""
    for root in roots:
        if path == root or root in path.parents:
            return str(Path(root.name) / path.relative_to(root))
    return str(path)


def read_json(path: Path) -> Any:
    """A JSON file's content; ValueError when it is too large or not JSON."""
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB, not a results file")
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# Discovery


@dataclass
class Found:
    """One thing found under the roots."""

    kind: str  # run | evaluation | ablation | transfer | forensics | dataset
    path: Path  # the folder (run, evaluation, ablation, forensics, dataset) or record file (transfer)
    title: str
    date: str  # ISO date-time, "" if unknown
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Discovery:
    roots: tuple[Path, ...]
    items: list[Found]
    problems: list[str]  # unreadable files, one line each

    def of(self, kind: str) -> list[Found]:
        return [item for item in self.items if item.kind == kind]

    def find(self, path: Path) -> Found | None:
        return next((item for item in self.items if item.path == path), None)


def _mtime_iso(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _walk(root: Path) -> Iterable[tuple[Path, list[str], list[str]]]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(
            d
            for d in dirs
            if depth < MAX_DEPTH
            and not d.startswith((".", "checkpoint_"))
            and d not in _SKIP_DIRS
            and not (here / d).is_symlink()
        )
        yield here, dirs, sorted(files)


def discover(roots: Sequence[Path]) -> Discovery:
    """Everything of interest under ``roots``, sorted by kind then path."""
    items: list[Found] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            problems.append(f"{root}: not a folder")
            continue
        for folder, _dirs, files in _walk(root):
            if folder in seen:
                continue
            seen.add(folder)
            # A file that is a symbolic link out of the roots is never read.
            names = {
                n for n in files if not (folder / n).is_symlink() or inside((folder / n).resolve(), roots)
            }
            try:
                items += _found_in(folder, names)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{folder}: unreadable ({type(exc).__name__}: {str(exc)[:120]})")
    order = {
        k: i for i, k in enumerate(("run", "ablation", "evaluation", "transfer", "forensics", "dataset"))
    }
    items.sort(key=lambda f: (order[f.kind], str(f.path)))
    return Discovery(tuple(roots), items, problems)


def _found_in(folder: Path, names: set[str]) -> list[Found]:
    found: list[Found] = []
    if "config.yaml" in names and ({"body-log.jsonl", "face-log.jsonl"} & names):
        found.append(_training_run(folder, names))
    if "results.json" in names:
        results = read_json(folder / "results.json")
        schema = results.get("schema") if isinstance(results, dict) else None
        if schema == EVALUATION_SCHEMA:
            found.append(_evaluation(folder, results))
        elif schema == FORENSICS_SCHEMA:
            found.append(_forensics(folder, results))
    if "ablation.json" in names:
        summary = read_json(folder / "ablation.json")
        if isinstance(summary, dict) and summary.get("schema") == ABLATION_SCHEMA:
            found.append(_ablation(folder, summary))
    for name in sorted(n for n in names if n.endswith(".transfer.json")):
        found.append(_transfer(folder / name))
    is_dataset = "build_report.json" in names or "README.md" in names
    if is_dataset and (folder / "data").is_dir() and any((folder / "data").glob("*/*.parquet")):
        found.append(_dataset(folder, names))
    return found


def _training_run(folder: Path, names: set[str]) -> Found:
    import yaml

    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
    data, model, runtime = config.get("data", {}), config.get("model", {}), config.get("runtime", {})
    stages = [s for s in ("body", "face") if f"{s}-log.jsonl" in names]
    finished = [s for s in ("body", "face") if f"{s}.pt" in names]
    variant = "T.S." if model.get("temporal", True) else "pix2pixHD"
    if "face" in finished:
        variant += " + Face"
    steps = {s: _last_step(folder / f"{s}-log.jsonl") for s in stages}
    start = _start_record(folder / f"{stages[0]}-log.jsonl") if stages else {}
    started = _record_time(start)
    # The precision the run computed in (``auto`` in the config is resolved on the workers).
    precision = start.get("precision") or runtime.get("precision")
    configuration = (
        f"{data.get('height')}×{data.get('width')}, ngf {model.get('ngf')}, "
        f"{runtime.get('num_workers')} workers, {precision}"
    )
    return Found(
        "run",
        folder,
        str(config.get("name") or folder.name),
        started or _mtime_iso(folder / "config.yaml"),
        {
            "dataset": data.get("dataset"),
            "variant": variant,
            "configuration": configuration,
            "stages": ", ".join(
                f"{s} ({steps[s]} steps{'' if s in finished else ', unfinished'})" for s in stages
            ),
            "checkpoints": [str(folder / f"{s}.pt") for s in finished],
        },
    )


def _last_step(log: Path) -> int:
    last = 0
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "step" in record:
            last = max(last, int(record["step"]))
    return last


def _start_record(log: Path) -> dict[str, Any]:
    """The first record of a training log that carries a time (the run's start), or {}."""
    for line in log.read_text(encoding="utf-8").splitlines()[:5]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("time"), int | float):
            return record
    return {}


def _record_time(record: dict[str, Any]) -> str | None:
    if not isinstance(record.get("time"), int | float):
        return None
    return datetime.fromtimestamp(record["time"], UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _evaluation(folder: Path, results: dict[str, Any]) -> Found:
    model = results.get("model") or {}
    return Found(
        "evaluation",
        folder,
        f"{model.get('label', folder.name)}: {results.get('mode')}",
        str(results.get("created") or _mtime_iso(folder / "results.json")),
        {
            "dataset": results.get("dataset"),
            "variant": model.get("variant"),
            "run": model.get("run"),
            "mode": results.get("mode"),
            "frames": results.get("frames"),
            "configuration": "×".join(str(x) for x in reversed(results.get("resolution") or [])),
        },
    )


def _ablation(folder: Path, summary: dict[str, Any]) -> Found:
    variants = summary.get("variants") or []
    return Found(
        "ablation",
        folder,
        f"ablation of {summary.get('run')}",
        str(summary.get("created") or _mtime_iso(folder / "ablation.json")),
        {
            "dataset": summary.get("dataset"),
            "variant": ", ".join(str(v.get("label")) for v in variants),
            "run": summary.get("run"),
            "configuration": "×".join(str(x) for x in reversed(summary.get("resolution") or [])),
        },
    )


def _transfer(record_path: Path) -> Found:
    record = read_json(record_path)
    model = record.get("model") or {}
    data = model.get("data") or {}
    variant = "with the face GAN" if model.get("face_gan") else "body only"
    return Found(
        "transfer",
        record_path,
        str(record.get("output") or record_path.name.removesuffix(".transfer.json")),
        str(record.get("created") or _mtime_iso(record_path)),
        {
            "dataset": data.get("dataset"),
            "variant": f"{model.get('stage')} stage, {variant}",
            "run": Path(str(model.get("path", ""))).parent.name or None,
            "source": (record.get("source") or {}).get("name"),
            "frames": record.get("frames"),
            "configuration": "×".join(str(x) for x in reversed(record.get("resolution") or [])),
        },
    )


def _forensics(folder: Path, results: dict[str, Any]) -> Found:
    detector = results.get("detector") or {}
    generators = results.get("generators") or {}
    threshold = detector.get("threshold")
    if isinstance(threshold, dict):  # {"frame": 0.5, "video": 0.5}
        threshold = ", ".join(f"{level} {value}" for level, value in threshold.items())
    return Found(
        "forensics",
        folder,
        f"detector {detector.get('backbone', '?')} on {len(results.get('videos') or [])} videos",
        str(results.get("created") or _mtime_iso(folder / "results.json")),
        {
            "variant": detector.get("backbone"),
            "configuration": f"input {detector.get('input_size')}, threshold {threshold}",
            "dataset": (results.get("data") or {}).get("folder"),
            # The generator names only ("details" holds each one's checkpoint and hash).
            "generators": "; ".join(
                f"{label}: {', '.join(map(str, generators[key]))}"
                for key, label in (("seen", "seen"), ("held_out", "held out"))
                if isinstance(generators.get(key), list)
            ),
        },
    )


def _dataset(folder: Path, names: set[str]) -> Found:
    report: dict[str, Any] = {}
    if "build_report.json" in names:
        loaded = read_json(folder / "build_report.json")
        report = loaded if isinstance(loaded, dict) else {}
    subjects = report.get("subjects") or []
    return Found(
        "dataset",
        folder,
        str(report.get("dataset") or folder.name),
        str(report.get("built_at") or _mtime_iso(folder)),
        {
            "dataset": str(folder),
            "variant": None,
            "configuration": ", ".join(
                f"{split}: {info.get('rows')} clips, {info.get('frames')} frames"
                for split, info in (report.get("splits") or {}).items()
            ),
            "subjects": len(subjects),
        },
    )
