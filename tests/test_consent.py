"""Consent manifests: validation errors name file and field; decisions follow scope, expiry, revocation."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataset.consent import ConsentError, decide, load_consent, write_synthetic_consent
from dataset.files import sha256_file

TODAY = date(2026, 6, 1)


def _manifest(tmp_path: Path, **changes: Any) -> Path:
    document = tmp_path / "signed.pdf"
    document.write_bytes(b"%PDF-1.4 signed consent form")
    data: dict[str, Any] = {
        "schema_version": 1,
        "subject_id": "alice",
        "consent_document": {"reference": "signed.pdf", "sha256": sha256_file(document)},
        "date_signed": "2026-01-10",
        "scopes": {"training_target": True, "source_motion": False, "publish": True, "synthesis": True},
        "expires": "2027-01-10",
        "revoked": False,
        "revoked_date": None,
        "contact": "alice@example.org",
    }
    for key, value in changes.items():
        if value is _DELETE:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "consent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


_DELETE = object()


def test_valid_manifest_covers_target_but_not_source(tmp_path: Path) -> None:
    manifest = load_consent(_manifest(tmp_path))
    assert decide(manifest, "target", TODAY).included
    source = decide(manifest, "source", TODAY)
    assert not source.included and "source_motion" in source.reason


def test_publication_scope_is_required_for_every_role(tmp_path: Path) -> None:
    scopes = {"training_target": True, "source_motion": True, "publish": False, "synthesis": True}
    manifest = load_consent(_manifest(tmp_path, scopes=scopes))
    for role in ("target", "source"):
        decision = decide(manifest, role, TODAY)
        assert not decision.included and "publish" in decision.reason


def test_expiry_and_revocation_exclude(tmp_path: Path) -> None:
    expired = load_consent(_manifest(tmp_path, expires="2026-05-31"))
    assert decide(expired, "target", TODAY).reason == "consent expired on 2026-05-31"
    assert decide(expired, "target", date(2026, 5, 30)).included  # still valid the day before
    revoked = load_consent(_manifest(tmp_path, revoked=True, revoked_date="2026-04-01"))
    assert decide(revoked, "target", TODAY).reason == "consent revoked on 2026-04-01"


@pytest.mark.parametrize(
    ("changes", "field", "hint"),
    [
        ({"contact": _DELETE}, "contact", "required field is missing"),
        (
            {"scopes": {"training_target": True, "publish": True, "synthesis": True}},
            "scopes.source_motion",
            "missing",
        ),
        ({"subject_id": "Alice Smith"}, "subject_id", "pattern"),
        ({"date_signed": "last tuesday"}, "date_signed", "date"),
        ({"revoked": True}, "revoked_date", "revoked_date': required when revoked is true"),
        ({"expires": "2025-01-01"}, "expires", "expires': must be later than date_signed"),
        ({"scopes_typo": {}}, "scopes_typo", "unknown field"),
        (
            {"consent_document": {"reference": "signed.pdf", "sha256": "abc"}},
            "consent_document.sha256",
            "64 hex",
        ),
    ],
)
def test_invalid_manifests_name_file_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, hint: str
) -> None:
    path = _manifest(tmp_path, **changes)
    with pytest.raises(ConsentError) as err:
        load_consent(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid consent manifest")
    assert f"field '{field}'" in message and hint in message and "\n" not in message


def test_document_hash_mismatch_and_missing_document(tmp_path: Path) -> None:
    path = _manifest(tmp_path)
    (tmp_path / "signed.pdf").write_bytes(b"a different document")
    with pytest.raises(ConsentError, match=r"field 'consent_document.sha256': does not match"):
        load_consent(path)
    (tmp_path / "signed.pdf").unlink()
    with pytest.raises(ConsentError, match=r"field 'consent_document.reference': .*does not exist"):
        load_consent(path)
    # A URI cannot be checked here: the manifest still loads and the hash is carried as recorded.
    uri = _manifest(
        tmp_path, consent_document={"reference": "https://example.org/forms/1", "sha256": "a" * 64}
    )
    assert load_consent(uri).consent_document.is_uri


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConsentError, match="consent manifest not found"):
        load_consent(tmp_path / "consent.yaml")
    bad = tmp_path / "consent.yaml"
    bad.write_text("subject_id: [unclosed", encoding="utf-8")
    with pytest.raises(ConsentError, match="not valid YAML"):
        load_consent(bad)
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConsentError, match="must be a YAML mapping"):
        load_consent(bad)


def test_synthetic_demo_consent_round_trips(tmp_path: Path) -> None:
    written = write_synthetic_consent(
        tmp_path / "demo-dancer-1", "demo-dancer-1", ["source"], date(2026, 1, 1)
    )
    loaded = load_consent(tmp_path / "demo-dancer-1" / "consent.yaml")
    assert loaded == written and loaded.synthetic
    assert decide(loaded, "source", TODAY).included and not decide(loaded, "target", TODAY).included
    assert "contact" not in loaded.public_record()
