"""Checkpoints: one ``torch.save`` file holding everything a run needs to resume or to transfer.

Contents (a plain dict of tensors, numbers and strings, so ``torch.load(weights_only=True)`` opens
it without running any pickled code):

- ``format``/``format_version``: what this file is; anything else is refused with a clear error;
- ``stage`` (``body``/``face``), ``phase`` (``global``/``local_fixed``/``local``/``face_d_only``/
  ``face``), ``step`` (global, over all phases), ``phase_step``, ``finished``;
- ``config``: the :class:`~synthesis.config.TrainConfig` as a dict;
- ``models``/``optimizers``/``schedulers``: state dicts by name;
- ``backbone``: which VGG the perceptual loss used and where its weights came from;
- ``data``: dataset, subject, fingerprint of the clips, frame size, and the target's pose
  statistics (``synthesis.normalize``) that transfers normalise sources to;
- ``metrics``: the last logged losses.

Files are written atomically (temporary file, then rename): a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from dataset.files import atomic_destination, first_line
from dataset.hub import looks_like_repo_id

FORMAT = "dancenow-synthesis-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file and the fix."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (with the format markers added) to ``path`` atomically."""
    path = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    tmp = atomic_destination(path)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resolve_checkpoint_path(target: str | os.PathLike[str]) -> Path:
    """A checkpoint file from a file, a folder holding ``checkpoint.pt``, or a Hub model repo id."""
    path = Path(target)
    if path.is_dir():
        for name in (CHECKPOINT_FILE, "model.pt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(
            f"{path}: folder holds no {CHECKPOINT_FILE} or model.pt; pass a file written by `dancenow train`"
        )
    if path.is_file():
        return path
    text = str(target)
    if looks_like_repo_id(text) and not path.suffix:
        from .hub import ModelPublishError, download_model

        try:
            return download_model(text)
        except ModelPublishError as exc:  # for callers, an unloadable model like any other
            raise CheckpointError(str(exc)) from None
    raise CheckpointError(f"{target}: no such checkpoint file; train one with `dancenow train body`")


def checkpoint_at_step(stage_dir: str | os.PathLike[str], step: int) -> Path:
    """The checkpoint file a run saved at ``step`` in Ray's folder of one stage (``RUN/body``).

    Ray keeps the last ``runtime.keep_checkpoints`` of a stage; its snapshot file lists them with
    the step each reported, so no checkpoint has to be opened to find the one wanted.
    """
    import json

    folder = Path(stage_dir)
    snapshot = folder / "checkpoint_manager_snapshot.json"
    try:
        results = json.loads(snapshot.read_text(encoding="utf-8"))["checkpoint_results"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(
            f"{folder}: not a training stage folder (no readable {snapshot.name}); pass RUN/body or RUN/face "
            "of a `dancenow train` run"
        ) from None
    steps = {}
    for result in results:
        try:
            steps[int(result["metrics"]["step"])] = folder / result["checkpoint_dir_name"] / CHECKPOINT_FILE
        except (KeyError, TypeError, ValueError):
            continue
    if step not in steps or not steps[step].is_file():
        kept = ", ".join(str(s) for s in sorted(s for s, p in steps.items() if p.is_file())) or "none"
        raise CheckpointError(
            f"{folder}: no checkpoint at step {step} (kept: {kept}); Ray keeps the last runtime.keep_checkpoints, "
            "choose one of those steps"
        )
    return steps[step]


class UnreadableTorchFile(ValueError):
    """``torch.load`` could not read a file; the message says why, in a phrase."""


def torch_load_safely(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` with ``weights_only=True`` onto the CPU; :class:`UnreadableTorchFile` when the
    file is corrupt or not a safe checkpoint. Its warning about a file's pickle protocol is kept off
    the terminal: such a file is refused anyway, and the error says so."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, OSError) as exc:
        raise UnreadableTorchFile(_unreadable_reason(exc)) from None


def _unreadable_reason(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in a phrase for a one-line error. Its refusal of
    a file it cannot safely unpickle is a paragraph about PyTorch 2.6's new default whose one useful
    part is the reason at its end ("Unsupported operand 103" for a file that is no pickle at all)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker not in text:
        return first_line(exc, 160)
    reason = next((line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()), "")
    return f"torch's safe loader refused it: {reason[:120]}" if reason else "torch's safe loader refused it"


def load_checkpoint(target: str | os.PathLike[str], *, stage: str | None = None) -> dict[str, Any]:
    """Load and validate a checkpoint; ``stage`` ("body"/"face") requires that stage's models."""
    path = resolve_checkpoint_path(target)
    try:
        state = torch_load_safely(path)
    except UnreadableTorchFile as exc:
        raise CheckpointError(
            f"{path}: not a readable dancenow checkpoint ({exc}); the file is corrupt or from "
            "another program: use a checkpoint written by `dancenow train`"
        ) from None
    if isinstance(state, dict) and state.get("format") == "dancenow-detector-checkpoint":
        raise CheckpointError(
            f"{path}: a forensics detector (`dancenow forensics train`), not a synthesis model; "
            "use a checkpoint written by `dancenow train`"
        )
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a dancenow synthesis checkpoint (a model from another program?); "
            "use a checkpoint written by `dancenow train`"
        )
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {state.get('format_version')} but this dancenow reads "
            f"version {FORMAT_VERSION}; upgrade dancenow or retrain"
        )
    models = state.get("models", {})
    if "generator" not in models:
        raise CheckpointError(f"{path}: checkpoint has no body generator; it is incomplete, retrain")
    if stage == "face" and "face_generator" not in models:
        raise CheckpointError(f"{path}: checkpoint has no face GAN; train it with `dancenow train face`")
    state["path"] = str(path)
    return state


__all__ = [
    "CHECKPOINT_FILE",
    "FORMAT",
    "CheckpointError",
    "checkpoint_at_step",
    "load_checkpoint",
    "resolve_checkpoint_path",
    "save_checkpoint",
]
