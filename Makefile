# The two commands of the README: `make demo` (set up, then run the main job on the bundled demo)
# and `make test` (set up, then lint, type-check and run the tests).
VENV ?= .venv
BIN := $(VENV)/bin
REPO_ID ?= your-org/dancenow-demo-dance

.PHONY: setup demo test lint typecheck pytest bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/dancenow demo-data
	$(BIN)/dancenow dataset build
	$(BIN)/dancenow dataset info
	$(BIN)/dancenow dataset publish --repo-id $(REPO_ID) --dry-run

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

clean:
	rm -rf outputs .pytest_cache .mypy_cache .ruff_cache
