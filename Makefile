# The two commands of the README: `make demo` (set up, then run the main job on the bundled demo)
# and `make test` (set up, then lint, type-check and run the tests); then `make dashboard` to look.
VENV ?= .venv
BIN := $(VENV)/bin
REPO_ID ?= your-org/dancenow-demo-dance
MODEL_REPO_ID ?= your-org/dancenow-demo-model
DEMO_CONFIG ?= ray_configs/demo_cpu.yaml
DETECTOR_CONFIG ?= ray_configs/detector_demo.yaml
TRANSFERS := outputs/demo/transfer

.PHONY: setup demo dashboard test lint typecheck pytest bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/dancenow demo-data
	$(BIN)/dancenow dataset build
	$(BIN)/dancenow dataset info
	$(BIN)/dancenow dataset publish --repo-id $(REPO_ID) --dry-run
	$(BIN)/dancenow train body --config $(DEMO_CONFIG)
	$(BIN)/dancenow train face --config $(DEMO_CONFIG)
	$(BIN)/dancenow transfer --model outputs/runs/demo/face.pt --source outputs/demo/dataset \
		--clip demo-dancer-1/dance/source --out $(TRANSFERS)/demo-dancer-1.mp4 \
		--side-by-side $(TRANSFERS)/demo-dancer-1-side-by-side.mp4
	$(BIN)/dancenow transfer --model outputs/runs/demo/face.pt \
		--source outputs/demo/raw/demo-dancer-2/source/dance.mp4 --out $(TRANSFERS)/demo-dancer-2.mp4 \
		--side-by-side $(TRANSFERS)/demo-dancer-2-side-by-side.mp4
	$(BIN)/dancenow transfer --model outputs/runs/demo/face.pt --source outputs/demo/dataset \
		--clip demo-target/moves/test --out $(TRANSFERS)/demo-target-test.mp4 \
		--side-by-side $(TRANSFERS)/demo-target-test-side-by-side.mp4
	$(BIN)/dancenow forensics verify $(TRANSFERS)/demo-dancer-1.mp4
	$(BIN)/dancenow model publish --model outputs/runs/demo/face.pt --repo-id $(MODEL_REPO_ID) --dry-run
	$(BIN)/dancenow ablation --config $(DEMO_CONFIG) --out outputs/evaluation/ablation-demo
	$(BIN)/dancenow forensics data --config $(DETECTOR_CONFIG)
	$(BIN)/dancenow forensics train --config $(DETECTOR_CONFIG)
	$(BIN)/dancenow forensics evaluate --out outputs/evaluation/forensics-demo
	$(BIN)/dancenow forensics detect $(TRANSFERS)/demo-dancer-1.mp4 outputs/demo/raw/demo-dancer-3/source/dance.mp4

# Open the demo's results in the browser (http://127.0.0.1:8501; Ctrl-C stops it).
dashboard: setup
	$(BIN)/dancenow dashboard outputs

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

test: setup lint typecheck pytest

bench: setup
	$(BIN)/python benchmarks/pose_extraction.py
	$(BIN)/python benchmarks/dataset_build.py
	$(BIN)/python benchmarks/stick_figures.py
	$(BIN)/python benchmarks/bf16_cpu.py
	$(BIN)/python benchmarks/train_step.py
	$(BIN)/python benchmarks/precision_quality.py
	$(BIN)/python benchmarks/transfer.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/data_loading.py
	$(BIN)/python benchmarks/evaluation.py
	$(BIN)/python benchmarks/watermark.py
	$(BIN)/python benchmarks/detection.py
	$(BIN)/python benchmarks/dashboard.py

clean:
	rm -rf outputs .pytest_cache .mypy_cache .ruff_cache
