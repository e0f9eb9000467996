"""Publishing a built dataset folder to the Hugging Face Hub, describing it, and loading it back.

``publish`` first computes a :class:`PublishPlan` (what to upload, what to delete) and only then
talks to the Hub, so ``--dry-run`` prints exactly what a real publish would do. Deletions are the
remote files the current build no longer has, which is how a revoked subject's files leave the
repo; the Hub keeps old revisions in its git history, so a publish that deletes anything also
squashes the history (``super_squash_history``) so earlier revisions no longer hold them.

What is uploaded: the card (``README.md``), ``LICENSE.md`` and ``data/``. The build report stays
local: it names excluded subjects and why, which is itself personal information.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .build import REPORT_JSON, STATE_DIR
from .files import atomic_write_text, first_line

Gated = Literal["manual", "auto", "none"]
UPLOAD_PATTERNS = ("README.md", "LICENSE.md", "data/")
LEDGER = f"{STATE_DIR}/published.json"


class PublishError(RuntimeError):
    """A publish that cannot go ahead; the message says why and what to do."""


@dataclass
class PublishPlan:
    repo_id: str
    folder: str
    private: bool
    gated: Gated
    upload: list[dict[str, Any]] = field(default_factory=list)  # path, bytes
    delete: list[str] = field(default_factory=list)
    deletions_from: str = "none"
    squash_history: bool = False
    token: str = "none found"  # where the token comes from; never the token itself

    def describe(self) -> str:
        total = sum(f["bytes"] for f in self.upload)
        lines = [
            f"publish {self.folder} -> datasets/{self.repo_id}",
            f"  repo: {'private' if self.private else 'public'}, gated: {self.gated}; token: {self.token}",
            f"  upload {len(self.upload)} file(s), {total / 1e6:.2f} MB:",
        ]
        lines += [f"    + {f['path']} ({f['bytes']} bytes)" for f in self.upload]
        lines.append(f"  delete {len(self.delete)} file(s) (from {self.deletions_from}):")
        lines += [f"    - {path}" for path in self.delete]
        if self.squash_history:
            lines.append("  then squash the repo history so deleted files leave earlier revisions too")
        return "\n".join(lines)


def _is_uploaded(rel: str) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in UPLOAD_PATTERNS)


def local_upload_files(folder: Path) -> list[dict[str, Any]]:
    if not (folder / REPORT_JSON).is_file():
        raise PublishError(
            f"{folder}: not a built dataset (no {REPORT_JSON}); run `dancenow dataset build --out {folder}` first"
        )
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if _is_uploaded(rel):
            files.append({"path": rel, "bytes": path.stat().st_size})
    return files


def read_ledger(folder: Path, repo_id: str) -> list[str] | None:
    path = folder / LEDGER
    if not path.is_file():
        return None
    entry = json.loads(path.read_text(encoding="utf-8")).get(repo_id)
    return None if entry is None else list(entry["files"])


def write_ledger(folder: Path, repo_id: str, files: list[str]) -> None:
    path = folder / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data[repo_id] = {"files": files, "published_at": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write_text(path, json.dumps(data, indent=2))


def token_source() -> tuple[str | None, str]:
    """The Hub token from the usual places (HF_TOKEN, the saved login) and a printable origin."""
    import os

    from huggingface_hub import get_token

    token = get_token()
    if token is None:
        return None, "none found (set HF_TOKEN or run `hf auth login`)"
    origin = "HF_TOKEN" if os.environ.get("HF_TOKEN") else "saved login"
    return token, f"found ({origin})"


def plan_publish(
    folder: Path,
    repo_id: str,
    private: bool = False,
    gated: Gated = "manual",
    remote_files: list[str] | None = None,
) -> PublishPlan:
    """What a publish would upload and delete. ``remote_files``: the repo's current files, if known;
    otherwise the ledger of the last publish from this folder is used."""
    if not looks_like_repo_id(repo_id):
        raise PublishError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    upload = local_upload_files(folder)
    local = {f["path"] for f in upload}
    if remote_files is not None:
        known, origin = remote_files, "the repo's current file list"
    else:
        ledger = read_ledger(folder, repo_id)
        known, origin = (
            (ledger or []),
            (f"the ledger of the last publish ({LEDGER})" if ledger is not None else "none (first publish)"),
        )
    # Only files we manage are deleted; .gitattributes and files others added outside data/ stay.
    delete = sorted(p for p in known if p not in local and p.startswith("data/"))
    return PublishPlan(
        repo_id=repo_id,
        folder=str(folder),
        private=private,
        gated=gated,
        upload=upload,
        delete=delete,
        deletions_from=origin,
        squash_history=bool(delete),
    )


# ORG/NAME as the Hub allows it: letters, digits, "-", "_" and ".", neither part starting or ending
# with "-" or "."; a path such as /data/x or ./x is not one.
_REPO_ID = re.compile(r"(?![.-])[\w.-]+(?<![.-])/(?![.-])[\w.-]+(?<![.-])")


def looks_like_repo_id(text: str) -> bool:
    """Whether ``text`` has the shape of a Hub repo id (ORG/NAME), rather than of a path."""
    return len(text) <= 96 and _REPO_ID.fullmatch(text) is not None


# The network errors of the Hub's HTTP client (its own httpx), named so that it need not be imported.
_NETWORK_ERRORS = {"ConnectError", "ConnectTimeout", "NetworkError", "TimeoutException", "TransportError"}


def hub_failure(exc: BaseException) -> str:
    """Why a call to the Hub failed, in a phrase for a one-line error: huggingface_hub's and
    datasets' own messages run to a paragraph or name an internal class."""
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return "the repo is gated: request access on its Hub page"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return "no such repo, or this token cannot see it"
    if is_unreachable(exc):
        return "the Hub cannot be reached (no network, or HF_HUB_OFFLINE is set)"
    return first_line(exc)


def is_unreachable(exc: BaseException) -> bool:
    """Whether a Hub call failed for want of a connection (rather than an answer from the Hub)."""
    from huggingface_hub import errors

    offline = (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, ConnectionError)
    return isinstance(exc, offline) or any(c.__name__ in _NETWORK_ERRORS for c in type(exc).__mro__)


@contextmanager
def quiet_hub_logs() -> Iterator[None]:
    """huggingface_hub logs every failed request as a warning; around calls whose failure becomes a
    one-line error of ours, that would say the same thing twice."""
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_logger.setLevel(level)


def hub_error_message(doing: str, where: str, exc: BaseException, *, rehearse: bool = False) -> str:
    """The one-line error of a failed Hub call, for datasets and models alike: ``cannot {doing}
    {where}: {why}; check ...``, ending with the dry-run hint where an upload failed (``rehearse``)."""
    hint = ", or rehearse with --dry-run" if rehearse else ""
    return (
        f"cannot {doing} {where}: {hub_failure(exc)}; check the repo id, your network and token "
        f"(HF_TOKEN or `hf auth login`){hint}"
    )


def remote_file_list(repo_id: str, token: str | None) -> list[str] | None:
    """The repo's files, or None if the repo does not exist yet."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return list(HfApi(token=token).list_repo_files(repo_id, repo_type="dataset"))
    except RepositoryNotFoundError:
        return None


def publish(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    gated: Gated = "manual",
    dry_run: bool = False,
) -> PublishPlan:
    """Create or update the dataset repo so that it holds exactly this build (see module doc)."""
    from .card import write_card

    folder = Path(folder)
    token, origin = token_source()
    report = (
        json.loads((folder / REPORT_JSON).read_text(encoding="utf-8"))
        if (folder / REPORT_JSON).is_file()
        else None
    )
    if dry_run:
        remote: list[str] | None = None
        if token is not None:
            try:
                remote = remote_file_list(repo_id, token)
            except Exception:  # offline or unauthorised: fall back to the ledger, and say so
                remote = None
        plan = plan_publish(folder, repo_id, private, gated, remote)
        plan.token = origin
        return plan
    if token is None:
        raise PublishError(f"no Hugging Face token: {origin}; a publish needs write access to {repo_id}")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if report is not None:
            write_card(folder, report, repo_id)  # the card's loading snippet names the real repo
        api.update_repo_settings(repo_id, repo_type="dataset", gated=False if gated == "none" else gated)
        remote = remote_file_list(repo_id, token) or []
        plan = plan_publish(folder, repo_id, private, gated, remote)
        plan.token = origin
        api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(folder),
            allow_patterns=[f["path"] for f in plan.upload],
            delete_patterns=plan.delete or None,
            commit_message=f"dancenow dataset publish ({len(plan.upload)} files, {len(plan.delete)} deleted)",
        )
        if plan.squash_history:
            api.super_squash_history(
                repo_id, repo_type="dataset", commit_message="Squash history after removing revoked data"
            )
    except PublishError:
        raise
    except Exception as exc:  # network, auth and Hub errors all end the same way for the user
        raise PublishError(
            hub_error_message("publish to", f"datasets/{repo_id}", exc, rehearse=True)
        ) from exc
    write_ledger(folder, repo_id, [f["path"] for f in plan.upload])
    return plan


def dataset_info(target: str) -> dict[str, Any]:
    """Summary of a built folder (from its build report) or a Hub repo id (from the Hub)."""
    path = Path(target)
    if path.exists():
        report_path = path / REPORT_JSON
        if not report_path.is_file():
            raise PublishError(f"{path}: not a dancenow dataset folder (no {REPORT_JSON})")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        return {
            "dataset": report["dataset"],
            "location": str(path),
            "built_at": report["built_at"],
            "consent_checked_as_of": report["consent_checked_as_of"],
            "detector": report["detector"],
            "splits": report["splits"],
            "subjects": [
                {"subject_id": s["subject_id"], "status": s["status"], "reasons": s["reasons"]}
                for s in report["subjects"]
            ],
            "clips": [  # what `--clip` takes
                {"clip_id": row["clip_id"], "split": row["split"], "frames": row["frame_count"]}
                for clip in report["clips"]
                if clip["included"]
                for row in clip["rows"]
            ],
            "files": len(report["files"]),
            "bytes": sum(f["bytes"] for f in report["files"]),
            "published": json.loads((path / LEDGER).read_text()) if (path / LEDGER).is_file() else {},
        }
    if not looks_like_repo_id(target):
        raise PublishError(f"{target}: neither an existing folder nor a Hub repo id (ORG/NAME)")
    from huggingface_hub import HfApi

    token, _ = token_source()
    try:
        info = HfApi(token=token).dataset_info(target, files_metadata=True)
    except Exception as exc:
        raise PublishError(hub_error_message("read", f"datasets/{target}", exc)) from None
    siblings = info.siblings or []
    return {
        "dataset": target,
        "location": f"hub:datasets/{target}",
        "private": info.private,
        "gated": info.gated,
        "last_modified": str(info.last_modified),
        "files": len(siblings),
        "bytes": sum(s.size or 0 for s in siblings),
    }


def load(target: str, split: str | None = None) -> Any:
    """``datasets.load_dataset`` on a built folder or a Hub repo id (no code of ours involved)."""
    import datasets

    return datasets.load_dataset(target, split=split)


__all__ = ["PublishError", "PublishPlan", "dataset_info", "load", "plan_publish", "publish"]
