"""The dataset card (``README.md``) and licence written into every built dataset folder.

The card's YAML header is what makes the folder loadable with plain ``datasets.load_dataset``
(``configs:`` names the splits' Parquet files) and what the Hub uses for gating: consent-bound
data asks every downloader to acknowledge the terms before access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LICENSE_NAME = "dancenow-consented-motion-data"

LICENSE_TEXT = """\
# dancenow consented motion data licence

The people in this dataset agreed to specific uses of their video, body, face and hand keypoints,
recorded per subject in the `consent_scope` column and in the card's consent table. You may use a
clip only within the scopes its subject granted:

- `training_target`: train a model that synthesises this person (target clips);
- `source_motion`: use this person's motion to drive another consenting person (source clips);
- `synthesis`: generate new video of this person;
- `publish`: redistribute the clip and its keypoints unchanged, with this licence and card.

You may not: identify, track or profile the people in the clips; synthesise them in any context
they did not agree to (including sexual, political, defamatory or deceptive content); remove the
provenance marks or watermarks that dancenow adds to synthesised video; or keep using a subject's
clips after their consent is revoked: revocation removes them from the next version of the
dataset, and you must delete your copies of that subject's data when a new version drops them.

Provided as is, without warranty. Report misuse or consent issues to the dataset's maintainers.
"""


def write_license(folder: Path, license_id: str) -> None:
    if license_id == "other":
        (folder / "LICENSE.md").write_text(LICENSE_TEXT, encoding="utf-8")


def _yaml_header(report: dict[str, Any]) -> dict[str, Any]:
    splits = [s for s, info in report["splits"].items() if info["rows"]]
    # Exact file names (they carry a content hash), not a glob: `datasets` caches a local folder
    # by the card's paths, so changed data must change the paths.
    files = {
        split: [f["path"] for f in report["files"] if f["path"].startswith(f"data/{split}/")]
        for split in splits
    }
    n_rows = sum(info["rows"] for info in report["splits"].values())
    header: dict[str, Any] = {"license": report["license"]}
    if report["license"] == "other":
        header.update(license_name=LICENSE_NAME, license_link="LICENSE.md")
    header.update(
        pretty_name=report["dataset"],
        tags=["video", "pose-estimation", "keypoints", "motion-transfer", "dance", "consent"],
        task_categories=["keypoint-detection", "image-to-video"],
        size_categories=["n<1K"] if n_rows < 1_000 else ["1K<n<10K"] if n_rows < 10_000 else ["10K<n<100K"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": files[split]} for split in splits],
            }
        ],
        extra_gated_heading="Acknowledge the consent terms to access this dataset",
        extra_gated_prompt=(
            "Everyone in this dataset consented to specific uses of their images and motion. "
            "Access is granted for uses within those scopes only (see LICENSE.md)."
        ),
        extra_gated_fields={
            "Name": "text",
            "Affiliation": "text",
            "Intended use": "text",
            "I will use each clip only within the consent scopes its subject granted": "checkbox",
            "I will not identify, track or profile the people in this dataset": "checkbox",
            "I will delete a subject's data when a new version of the dataset removes them": "checkbox",
        },
        extra_gated_button_content="Acknowledge and request access",
    )
    return header


def _subject_table(report: dict[str, Any]) -> str:
    lines = [
        "| subject | status | scopes | signed | expires | synthetic | document SHA-256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in report["subjects"]:
        if s["status"] != "included":
            continue  # excluded subjects are not named in a published card
        c = s["consent"]
        lines.append(
            f"| {s['subject_id']} | {s['status']} | {', '.join(c['scopes'])} | {c['date_signed']} | "
            f"{c['expires'] or 'no expiry'} | {'yes' if c['synthetic'] else 'no'} | "
            f"`{c['consent_document_sha256'][:16]}…` |"
        )
    return "\n".join(lines)


def render_card(report: dict[str, Any], repo_id: str = "ORG/NAME") -> str:
    header = yaml.safe_dump(_yaml_header(report), sort_keys=False, allow_unicode=True, width=1000)
    splits = "\n".join(
        f"| {split} | {info['rows']} | {info['frames']} |" for split, info in report["splits"].items()
    )
    synthetic = all(s["consent"]["synthetic"] for s in report["subjects"] if s["status"] == "included")
    synthetic_note = (
        "\n**Every subject in this build is synthetic**: a figure rendered by `dancenow demo-data`, not a "
        "person. The consent records are marked `synthetic: true` and exercise the same checks as real "
        "footage.\n"
        if synthetic
        else ""
    )
    detector = report["detector"]
    return f"""---
{header}---

# {report["dataset"]}

Consented dance video for "do as I do" motion transfer (after *Everybody Dance Now*, Chan et al.,
ICCV 2019): **target** clips of a subject doing standard moves, split in time into `train` and a
held-out `test` part, and **source** clips of dances, each with per-frame body, face and hand
keypoints and the subject's consent scopes. Built with `dancenow dataset build`.
{synthetic_note}
## How to load it

```python
from datasets import load_dataset

ds = load_dataset("{repo_id}")          # or load_dataset("path/to/this/folder")
clip = ds["train"][0]
clip["body"]            # (T, 25, 3) OpenPose BODY_25 keypoints: x, y, confidence in pixels
clip["video"][0]        # frame 0 as a (3, H, W) uint8 tensor (torchcodec); len(clip["video"]) == T
```

No code of ours is needed. Frame `i` of `video` is row `i` of `body`, `face` and `hands`.

## Dataset structure

| split | rows (clip segments) | frames |
|---|---|---|
{splits}

Fields: `clip_id`, `subject_id`, `role` (target/source), `split`, `source_video` and `start_frame`
(where the segment was cut from), `fps`, `width`, `height`, `frame_count`, `video` (H.264 mp4, bytes
embedded), `body` (T, 25, 3) in OpenPose BODY_25 order, `face` (T, 70, 3) in OpenPose's 68-point
contour order plus two pupils, `hands` (T, 2, 21, 3) with index 0 the subject's **left** hand,
`keypoint_source`, `detector`, `detector_version`, `smoothing`, `consent_scope`,
`consent_document_sha256`, `synthetic_subject`, `license`. Keypoints are `(x, y, confidence)` in
pixels of the stored video; an undetected point is `(0, 0, 0)`. Left and right are the subject's own.

## Consent

A clip is included only if its subject's consent manifest is valid, not revoked, not expired on
the build date ({report["consent_checked_as_of"]}) and covers the clip's role (target clips need
`training_target`, `synthesis` and `publish`; source clips `source_motion` and `publish`). Each
row carries the SHA-256 of the signed consent document it relies on. Revoked or expired consent
removes the subject at the next build; the next publish deletes their files from this repository
and squashes its history, so earlier revisions no longer hold them.

{_subject_table(report)}

## Personal and Sensitive Information

The videos show people's faces and bodies, which identify them. Contact details from the consent
manifests are never published. Do not attempt to identify, track or profile the subjects; access is
gated on acknowledging these terms.

## Bias, Risks, and Limitations

- Few subjects: models trained here learn these people, not people in general; skin tones, body
  types, clothing and settings are limited to those filmed.
- Keypoints come from an automatic detector ({detector["name"]}) and contain errors, more so for
  hands, fast motion, occlusion and unusual clothing; check `detection_rates` in the build report.
- Motion transfer makes realistic video of a person doing what they never did. Use it only within
  the consented scopes; dancenow watermarks what it synthesises and ships a detector for such video.

## How it was made

- Pose detection: `{detector["name"]}` version `{detector["version"]}`, mapped to the OpenPose
  layout (or OpenPose JSON imported as is, where supplied; see `keypoint_source`).
- Temporal smoothing: `{report["smoothing"]}` (a confidence-aware 7-frame median at ordinary frame
  rates, a Gaussian at high frame rates; never pulled towards missing detections).
- Splits: the last {report["test_fraction"]:.0%} of every target clip is `test`; source clips are
  `source`. Every segment was re-encoded once to H.264 (yuv420p, constant frame rate).

## Licence

`{report["license"]}`{" (see LICENSE.md)" if report["license"] == "other" else ""}.

## Citation

If you use the method, cite: Caroline Chan, Shiry Ginosar, Tinghui Zhou, Alexei A. Efros.
*Everybody Dance Now.* ICCV 2019.
"""


def write_card(folder: Path, report: dict[str, Any], repo_id: str = "ORG/NAME") -> None:
    (folder / "README.md").write_text(render_card(report, repo_id), encoding="utf-8")
