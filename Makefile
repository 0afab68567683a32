# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create the project's virtual environment on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.depo-ray-installed
EXTRA  ?= cpu
PYTEST_ARGS ?=

.PHONY: install demo test clean

install: $(STAMP)

# torch first: pip picks the local CPU wheel for this exact pin, and every later
# requirement is then satisfied by it instead of pulling a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[$(EXTRA),test]"
	$(PY) -m pip uninstall -y torchvision torchaudio torchcodec triton
	$(PY) -c "import transformers, vllm, ray, minigrid, peft; print('environment ok')"
	touch $@

demo: $(STAMP)
	$(PY) jobs/demo_episode.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs
