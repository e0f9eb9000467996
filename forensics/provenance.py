"""Signed provenance records beside every video dancenow writes (``VIDEO.provenance.json``).

A record says what made the video: the tool, the model (id and SHA-256), the source motion and the
consent records of the people involved (subject ids and the SHA-256 of their signed consent
documents, from the dataset), the watermark it carries, and when. It names the video by file name,
SHA-256, frame count and size, so a record cannot be moved to another file unnoticed.

The record is signed with Ed25519: the signature covers the canonical JSON of everything else in the
record (keys sorted, no spaces). The public key travels in the record and its fingerprint
(``key_id``, first 16 hex digits of the SHA-256 of the raw key) names the signer; anyone can check
that the record is intact, and whoever knows the producer's key id can check who signed it.

The signing key is created on first use, readable by its owner only, at ``$DANCENOW_SIGNING_KEY``
or ``~/.config/dancenow/provenance-ed25519.pem``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset.files import atomic_write_bytes, atomic_write_text, sha256_file

SCHEMA = "dancenow.provenance/1"
SUFFIX = ".provenance.json"


class ProvenanceError(ValueError):
    """A provenance record cannot be read or written; the message names the file and the fix."""


def record_path(video: str | os.PathLike[str]) -> Path:
    """Where the record of ``video`` lives: ``VIDEO.provenance.json`` beside it."""
    video = Path(video)
    return video.with_name(video.name + SUFFIX)


def signing_key_path() -> Path:
    configured = os.environ.get("DANCENOW_SIGNING_KEY")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".config" / "dancenow" / "provenance-ed25519.pem"


def _load_or_create_key() -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = signing_key_path()
    if path.is_file():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ProvenanceError(
                f"{path}: not an unencrypted PEM private key ({exc}); remove it to create a new one "
                "or point DANCENOW_SIGNING_KEY at your key"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ProvenanceError(
                f"{path}: not an Ed25519 key; remove it or point DANCENOW_SIGNING_KEY elsewhere"
            )
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, pem)
    path.chmod(0o600)
    return key


def _public_bytes(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def canonical_json(record: dict[str, Any]) -> bytes:
    """The bytes the signature covers: the record without its signature, keys sorted, compact."""
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def describe_video(video: str | os.PathLike[str]) -> dict[str, Any]:
    from dataset.video import probe

    info = probe(video)
    return {
        "file": Path(video).name,
        "sha256": sha256_file(video),
        "frames": info.frame_count,
        "size": [info.height, info.width],
        "fps": info.fps,
    }


def consent_of(dataset: str | None, subject: str | None) -> dict[str, Any] | None:
    """The consent record of ``subject`` in ``dataset``'s build report (``build_report.json``): its
    signed document's SHA-256, date, scopes and expiry; None when the dataset is not a local folder
    with a report or the subject is not in it."""
    if not dataset or not subject:
        return None
    report = Path(dataset) / "build_report.json"
    try:
        subjects = json.loads(report.read_text(encoding="utf-8")).get("subjects", [])
    except (OSError, ValueError):
        return None
    for entry in subjects:
        if (
            isinstance(entry, dict)
            and entry.get("subject_id") == subject
            and isinstance(entry.get("consent"), dict)
        ):
            consent = entry["consent"]
            keys = ("subject_id", "consent_document_sha256", "date_signed", "expires", "scopes", "synthetic")
            return {k: consent.get(k) for k in keys}
    return None


def write_provenance(video: str | os.PathLike[str], fields: dict[str, Any]) -> Path:
    """Sign and write the record of ``video`` (``fields``: what made it) beside it; returns its path."""
    key = _load_or_create_key()
    public = _public_bytes(key)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "video": describe_video(video),
        **fields,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    record["signature"] = {
        "algorithm": "ed25519",
        "public_key": base64.b64encode(public).decode(),
        "key_id": key_id(public),
        "value": base64.b64encode(key.sign(canonical_json(record))).decode(),
    }
    path = record_path(video)
    atomic_write_text(path, json.dumps(record, indent=1))
    return path


@dataclass
class ProvenanceReport:
    """What :func:`verify_provenance` found."""

    record: Path
    found: bool
    signature_valid: bool = False
    video_matches: bool = False
    key_id: str | None = None
    problems: list[str] = field(default_factory=list)
    content: dict[str, Any] | None = None

    @property
    def intact(self) -> bool:
        return self.found and self.signature_valid and self.video_matches

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": str(self.record),
            "found": self.found,
            "intact": self.intact,
            "signature_valid": self.signature_valid,
            "video_matches": self.video_matches,
            "key_id": self.key_id,
            "problems": self.problems,
            "content": self.content,
        }

    def describe(self) -> str:
        if not self.found:
            return f"provenance record: none ({self.record} does not exist)"
        if self.intact:
            return f"provenance record: intact, signed by key {self.key_id} ({self.record.name})"
        return f"provenance record: NOT intact ({'; '.join(self.problems)})"


def verify_provenance(
    video: str | os.PathLike[str], record: str | os.PathLike[str] | None = None
) -> ProvenanceReport:
    """Check ``video``'s record (default ``VIDEO.provenance.json``): signature and video identity."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(record) if record else record_path(video)
    if not path.is_file():
        return ProvenanceReport(path, found=False)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        signature = content["signature"]
        public = base64.b64decode(signature["public_key"])
        value = base64.b64decode(signature["value"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return ProvenanceReport(
            path, found=True, problems=[f"unreadable record ({type(exc).__name__}: {exc})"]
        )
    report = ProvenanceReport(path, found=True, key_id=key_id(public), content=content)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(value, canonical_json(content))
        report.signature_valid = True
    except (InvalidSignature, ValueError):
        report.problems.append("the signature does not match the record: it was changed after signing")
    if signature.get("key_id") != report.key_id:
        report.problems.append("the key id does not match the public key")
        report.signature_valid = False
    expected = (content.get("video") or {}).get("sha256")
    actual = sha256_file(video)
    report.video_matches = expected == actual
    if not report.video_matches:
        report.problems.append(
            "the video's SHA-256 differs from the record's: the file was re-encoded or edited after it was made"
        )
    return report


__all__ = [
    "SCHEMA",
    "ProvenanceError",
    "ProvenanceReport",
    "canonical_json",
    "consent_of",
    "record_path",
    "signing_key_path",
    "verify_provenance",
    "write_provenance",
]
