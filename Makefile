# Two commands for a newcomer: `make serve` and `make test`. Everything installs into .venv
# with constraints.txt (it pins the CPU build of torch).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# --no-compile: pip byte-compiled every installed module (torch's thousands included) for
# about a minute of the first `make serve`; Python compiles what is imported, once, instead
PIP_FLAGS ?= -q --disable-pip-version-check --no-compile
DATA ?= data
ARTIFACTS ?= artifacts
# e.g. ENCODER=bundled:all-MiniLM-L6-v2 (English, lighter; default: the build's,
# bundled:multilingual-e5-small)
ENCODER ?=
ENCODER_FLAG := $(if $(ENCODER),--encoder $(ENCODER))

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-gpu serve build test test-fast lint bench evaluate clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A GPU machine instead (CUDA 12 driver): PyPI's CUDA build of torch and faiss-gpu in place
# of faiss-cpu (both write the package `faiss`, so faiss-cpu goes first); then `recsys
# build --device cuda` encodes in fp16 and trains/adds the faiss indexes on the GPU, and
# the manifest records where each ran. The CPU install above stays the default.
install-gpu:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints-gpu.txt -e '.[dev]'
	$(BIN)/python -m pip uninstall -q --disable-pip-version-check -y faiss-cpu
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints-gpu.txt faiss-gpu-cu12
	$(BIN)/python -c "import faiss, torch; print('faiss GPUs:', faiss.get_num_gpus(), '| torch CUDA:', torch.cuda.is_available())"
	touch $(STAMP)

# Built only when missing; `make build` forces a new version.
$(ARTIFACTS)/current: | $(STAMP)
	$(BIN)/recsys build --data $(DATA) --out $(ARTIFACTS) $(ENCODER_FLAG)

build: $(STAMP)
	$(BIN)/recsys build --data $(DATA) --out $(ARTIFACTS) $(ENCODER_FLAG)

# Served requests are logged as JSON lines (override with RECSYS_REQUEST_LOG=...).
serve: $(STAMP) $(ARTIFACTS)/current
	RECSYS_ARTIFACTS_DIR=$(ARTIFACTS) RECSYS_REQUEST_LOG=$${RECSYS_REQUEST_LOG:-logs/served.jsonl} \
		$(BIN)/recsys serve

# The whole suite, the slow end-to-end tests included (that is what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check recsys api pipelines tests bench
	$(BIN)/mypy recsys api pipelines bench

bench: $(STAMP) $(ARTIFACTS)/current
	$(BIN)/python -m bench.search_quality --artifacts $(ARTIFACTS)
	$(BIN)/python -m bench.search_latency --artifacts $(ARTIFACTS)
	$(BIN)/python -m bench.recommend_latency --artifacts $(ARTIFACTS)

evaluate: $(STAMP) $(ARTIFACTS)/current
	$(BIN)/recsys evaluate --artifacts $(ARTIFACTS)

clean:
	rm -rf $(VENV) $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache
