# Two commands do all the set-up: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stylecourse-installed
OUT ?= demo-output
NB ?=

.PHONY: install demo test nbtest pytest lessons lessons-diff bench gpu-check export clean-nbs check-clean clean

$(STAMP): setup.py settings.ini pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "stylecourse needs Python >= 3.10")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(STAMP)

## The main job: style a sample image and say where it went.
demo: $(STAMP)
	$(BIN)/stylecourse demo -o $(OUT)

## Every test: each lesson under nbdev_test (IN_TEST=1, small sizes), then pytest tests/.
test: nbtest pytest

nbtest: $(STAMP)
	@ls nbs/[0-9]*.ipynb >/dev/null 2>&1 || { echo "error: no lessons found in nbs/"; exit 1; }
	$(BIN)/nbdev_test --n_workers 2 --timing 2>&1 | tee .nbtest.log
	@grep -q '^Success' .nbtest.log || { echo "error: nbdev_test ran no notebook"; exit 1; }

pytest: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest tests/ -q
	@# Root may read and write anything, so permission tests skip as root: run them again without root's capabilities
	@# (still uid 0, so the venv stays readable in a private folder such as /root; file permissions then apply)
	@if [ "$$(id -u)" = 0 ]; then \
		if command -v setpriv >/dev/null 2>&1 && setpriv --bounding-set=-all --inh-caps=-all true 2>/dev/null; then \
			echo "as root: rerunning the tests marked 'unprivileged' with root's capabilities dropped"; \
			MPLBACKEND=Agg setpriv --bounding-set=-all --inh-caps=-all \
				$(BIN)/python -m pytest tests/ -q -m unprivileged -p no:cacheprovider; \
		else echo "note: cannot drop root's capabilities here (setpriv missing or refused): the 'unprivileged' tests were skipped"; fi; \
	fi

## Execute the lessons in place (IN_TEST unset) so their committed outputs teach; NB=nbs/02_pixel_copy.ipynb for one.
lessons: $(STAMP)
	$(BIN)/python tools/run_lessons.py $(NB)
	$(BIN)/nbdev_clean

## After `make lessons`: which outputs changed besides times and rates (the committed outputs are the other run).
lessons-diff:
	$(BIN)/python tools/diff_outputs.py --rev HEAD nbs/[0-9]*.ipynb

bench: $(STAMP)
	$(BIN)/stylecourse bench

## On a machine with CUDA, in under 8 minutes: the CUDA tests, every lesson under nbdev_test on the GPU, both benchmarks.
gpu-check: $(STAMP)
	@$(BIN)/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "error: make gpu-check needs a CUDA GPU (torch.cuda.is_available() is False)")'
	MPLBACKEND=Agg $(BIN)/python -m pytest tests/ -q -k "cuda"
	$(BIN)/nbdev_test --n_workers 1 --timing 2>&1 | tee .nbtest-gpu.log
	@grep -q '^Success' .nbtest-gpu.log || { echo "error: nbdev_test on the GPU failed or ran no notebook"; exit 1; }
	$(BIN)/stylecourse bench --device cuda
	$(BIN)/stylecourse bench --big --device cuda

export: $(STAMP)
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

clean:
	rm -rf build dist *.egg-info .pytest_cache .nbtest.log .nbtest-gpu.log
