"""Publishing a trained model to the Hugging Face Hub and loading it back by repo id.

A model repo holds ``model.pt`` (the checkpoint, as ``dancenow train`` wrote it), ``config.yaml``
and a ``README.md`` model card (data, configuration, backbone, metrics, responsible use). The
folder is staged locally first, so ``--dry-run`` shows exactly what would be uploaded.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataset.files import atomic_write_text, cache_root, sha256_file
from dataset.hub import hub_error_message, is_unreachable, looks_like_repo_id, quiet_hub_logs, token_source

MODEL_FILE = "model.pt"


class ModelPublishError(RuntimeError):
    """A model publish or download that cannot go ahead; the message says why and what to do."""


@dataclass
class ModelPublishPlan:
    repo_id: str
    private: bool
    folder: Path
    files: list[dict[str, Any]]

    def describe(self) -> str:
        _, origin = token_source()
        lines = [
            f"repo: models/{self.repo_id} ({'private' if self.private else 'public'})",
            f"token: {origin}",
            f"upload ({len(self.files)} files from {self.folder}):",
        ]
        lines += [f"  + {f['path']} ({f['bytes']:,} bytes, sha256 {f['sha256'][:12]})" for f in self.files]
        return "\n".join(lines)


def model_card(state: dict[str, Any], repo_id: str) -> str:
    """The README.md of a model repo: YAML metadata, then what a user needs to judge and use it."""
    config = state["config"]
    data = state["data"]
    metrics = state.get("metrics") or {}
    dataset = data["dataset"]
    meta: dict[str, Any] = {
        "license": "other",
        "license_name": "dancenow-consented-subject",
        "library_name": "dancenow",
        "tags": ["motion-transfer", "pose-to-image", "gan", "everybody-dance-now", "synthetic-media"],
        "pipeline_tag": "image-to-image",
    }
    if dataset.count("/") == 1 and not Path(dataset).exists():
        meta["datasets"] = [dataset]
    stage = state.get("stage", "body")
    face = "yes" if "face_generator" in state["models"] else "no"
    steps = f"{state.get('step')} steps"
    if "body_step" in state:
        steps = f"{state['body_step']} body steps, then {state.get('step')} face steps"
    # A local dataset path says nothing to a reader of the card (and shows our file system): its name only.
    shown_dataset = dataset if "datasets" in meta else f"{Path(dataset).name} (a local dataset folder)"
    backbone = state["backbone"]
    backbone_text = f"{backbone['name']} (weights {Path(backbone['source']).name}, sha256 {backbone['weights_sha256'][:12]})"
    metric_rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items())) or "| (none logged) | |"
    return f"""---
{yaml.safe_dump(meta, sort_keys=False).strip()}
---

# {repo_id}

A dancenow motion-transfer model ("Everybody Dance Now" method): it renders the target subject
**{data["subject"]}** in the pose of any source dancer's stick figure.

- Stage: {stage}; generator: {state.get("generator_kind", "global")}; face GAN: {face}
- Trained for {steps} at {config["data"]["height"]}×{config["data"]["width"]} pixels
- Perceptual-loss backbone: {backbone_text}

## Training data

- Dataset: `{shown_dataset}`, subject `{data["subject"]}`, clips {", ".join(data["clips"])}
- Data fingerprint (SHA-256 of clips, video bytes and keypoints): `{data["fingerprint"]}`
- The target's test split was held out.

## Configuration

```yaml
{yaml.safe_dump({**config, "data": {**config["data"], "dataset": shown_dataset}}, sort_keys=False).strip()}
```

## Last training losses

| loss | value |
|---|---|
{metric_rows}

## Responsible use

This model reproduces one real or synthetic person's appearance. It may only be used within the
consent that person gave for the dataset it was trained on (scopes `training_target` and
`synthesis`); if that consent is revoked or expires, stop using and delete the model. Videos made
with `dancenow transfer` are synthetic: do not present them as real footage.

## How to use

```bash
dancenow transfer --model {repo_id} --source dance.mp4 --out out.mp4
```
"""


def stage_model(
    checkpoint: str | os.PathLike[str], folder: str | os.PathLike[str], repo_id: str
) -> list[dict[str, Any]]:
    """Write the repo's files into ``folder``; returns them with sizes and hashes."""
    from .checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(state["path"], folder / MODEL_FILE)
    atomic_write_text(folder / "config.yaml", yaml.safe_dump(state["config"], sort_keys=False))
    atomic_write_text(folder / "README.md", model_card(state, repo_id))
    return [
        {"path": name, "bytes": (folder / name).stat().st_size, "sha256": sha256_file(folder / name)}
        for name in ("README.md", "config.yaml", MODEL_FILE)
    ]


def publish_model(
    checkpoint: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    staging: str | os.PathLike[str] | None = None,
) -> ModelPublishPlan:
    """Stage and (unless ``dry_run``) upload a checkpoint as a Hub model repo."""
    if not looks_like_repo_id(repo_id):
        raise ModelPublishError(f"--repo-id must look like ORG/NAME, got {repo_id!r}")
    folder = (
        Path(staging) if staging else Path(checkpoint).resolve().parent / f"hub-{repo_id.replace('/', '--')}"
    )
    plan = ModelPublishPlan(repo_id, private, folder, stage_model(checkpoint, folder, repo_id))
    if dry_run:
        return plan
    from huggingface_hub import HfApi

    token, _ = token_source()
    api = HfApi(token=token)
    try:
        with quiet_hub_logs():
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id, repo_type="model", folder_path=str(folder), commit_message="dancenow model"
            )
    except Exception as exc:
        raise ModelPublishError(
            hub_error_message("publish to", f"models/{repo_id}", exc, rehearse=True)
        ) from exc
    return plan


def download_model(repo_id: str) -> Path:
    """The checkpoint of a Hub model repo, downloaded once into the Hub cache.

    The Hub is asked once first: ``hf_hub_download`` retries an unreachable Hub for about 23 s
    before it falls back to the cached copy or fails; without a connection the cached copy is
    used at once, and with none the error comes at once.
    """
    from huggingface_hub import HfApi, hf_hub_download, try_to_load_from_cache

    token, _ = token_source()
    try:
        try:
            HfApi(token=token).model_info(repo_id)
        except Exception as exc:
            cached = try_to_load_from_cache(
                repo_id, MODEL_FILE, cache_dir=cache_root("hub"), repo_type="model"
            )
            if is_unreachable(exc) and isinstance(cached, str):
                return Path(cached)
            raise
        with quiet_hub_logs():
            path = hf_hub_download(
                repo_id, MODEL_FILE, repo_type="model", token=token, cache_dir=cache_root("hub")
            )
    except Exception as exc:
        raise ModelPublishError(
            hub_error_message(f"download {MODEL_FILE} from", f"models/{repo_id}", exc)
        ) from None
    return Path(path)


def plan_as_json(plan: ModelPublishPlan) -> str:
    return json.dumps(
        {"repo_id": plan.repo_id, "private": plan.private, "folder": str(plan.folder), "files": plan.files},
        indent=1,
    )


__all__ = [
    "ModelPublishError",
    "ModelPublishPlan",
    "download_model",
    "model_card",
    "publish_model",
    "stage_model",
]
