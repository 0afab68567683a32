# Two commands do all set-up on a fresh machine: `make pipeline` and `make test`.
# Both create the project's virtual environment on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.depo-ray-installed
EXTRA  ?= cpu,tracking
PYTEST_ARGS ?=

RAY    := $(VENV)/bin/ray
CONFIG ?= configs/cpu_pipeline.yaml
DASHBOARD ?= http://127.0.0.1:8265

RUN    ?= runs/cpu
UI_PORT ?= 5000
PROMETHEUS_PORT ?= 9090
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser prometheus monitor demo pipeline ui ray-stop test test-fast clean

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

# The main job on the CPU default: create Ray's auth token if missing, start a local head
# unless one answers at $(DASHBOARD), then submit the pipeline (its log ends with `report: PATH`).
pipeline: $(STAMP)
	$(PY) jobs/submit.py --config $(CONFIG) --address $(DASHBOARD)

# MLflow's UI on a run's tracking store (the pipeline logs each finished stage there).
ui: $(STAMP)
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(abspath $(RUN))/mlflow.db --port $(UI_PORT)

# Debian's Chromium: the tracking test loads MLflow's page in it, headless.
browser:
	command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "warning: could not install chromium (Debian's package); the tracking UI test will fail"

# Debian's Prometheus: `make monitor` runs it on the head node's newest Ray session (Ctrl-C
# stops it); a test scrapes a pipeline run with it.
prometheus:
	command -v prometheus >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus) \
		|| echo "warning: could not install prometheus (Debian's package); the monitoring test will fail"

monitor: $(STAMP) prometheus
	$(PY) jobs/monitor.py --port $(PROMETHEUS_PORT)

ray-stop: $(STAMP)
	$(RAY) stop

# Two pytest workers (pytest-xdist): engine, cluster and training starts are mostly imports
# and waits, which leave the second core idle in a serial run. A module's tests stay in one
# worker (tests/conftest.py); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP) browser prometheus
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# No vLLM engine, no Ray cluster, no model download: the developer's loop.
test-fast: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not vllm and not ray and not model" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs
