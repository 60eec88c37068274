# torsoseg: set-up, tests, demo and benchmarks. `make test` and `make demo` install what they need.
PYTHON ?= python3
VENV ?= .venv
# The torch requirement is installed first and can be overridden, e.g. `make install TORCH="torch==2.5.1"`.
# torch==2.13.0 is a small CPU build on our machines; an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
BENCH_VENV ?= .bench-venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: install test lint demo demo-quick bench bench-env clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@
	@echo "torsoseg installed in $(VENV)/ (console scripts in $(VENV)/bin/)"

lint: install
	$(VENV)/bin/ruff check torsoseg tests benchmarks scripts

test: install lint
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/torsoseg_demo $(DEMO_ARGS)

demo-quick: install
	$(VENV)/bin/torsoseg_demo --quick $(DEMO_ARGS)

# Optional comparison environment: nnU-Net v2 and MONAI beside a CPU torch. timm (a dependency of
# dynamic-network-architectures) would pull torchvision and a CUDA torch, so those two packages are
# installed without dependencies and their other requirements listed here.
$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet "$(TORCH)"
	$(BENCH_VENV)/bin/pip install --quiet --no-deps nnunetv2 dynamic_network_architectures monai batchgeneratorsv2
	$(BENCH_VENV)/bin/pip install --quiet acvl_utils batchgenerators blosc2 scikit-image scipy simpleitk \
		tifffile einops graphviz imagecodecs matplotlib nibabel pandas requests scikit-learn seaborn tqdm \
		yacs dicom2nifti connected-components-3d fft-conv-pytorch psutil
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -e .
	@touch $@

bench-env: $(BENCH_VENV)/.installed

bench: install bench-env
	TORSOSEG_BENCH_PYTHON=$(abspath $(BENCH_VENV))/bin/python $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info
