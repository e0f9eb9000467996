"""``dancenow forensics verify``: the provenance marks of a video (watermark and signed record)."""

from __future__ import annotations

import argparse
import json

from dataset.cli import _Formatter


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


def register(sub: argparse._SubParsersAction) -> None:
    forensics = sub.add_parser(
        "forensics",
        help="check videos for dancenow's provenance marks",
        description="Forensics: the invisible watermark and the signed provenance record that every video "
        "`dancenow transfer` writes carries.",
        formatter_class=_Formatter,
    )
    commands = forensics.add_subparsers(dest="forensics_command", required=True, metavar="{verify}")
    p = commands.add_parser(
        "verify",
        help="report a video's watermark and provenance record",
        description="Vote the 32-bit dancenow mark over up to --max-frames frames of VIDEO (present when at least "
        "29 bits match) and check VIDEO.provenance.json: its Ed25519 signature and that it names this very file. "
        "The mark survives re-encoding and resizing; the record's file hash does not (it then says so).",
        formatter_class=_Formatter,
    )
    p.add_argument("video", help="video file (mp4 or anything the decoder reads)")
    p.add_argument("--record", default=None, help="provenance record (default: VIDEO.provenance.json)")
    p.add_argument(
        "--max-frames", type=int, default=64, help="frames read for the watermark vote, spread evenly"
    )
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_verify)


def known_errors() -> tuple[type[BaseException], ...]:
    from .provenance import ProvenanceError

    return (ProvenanceError,)
