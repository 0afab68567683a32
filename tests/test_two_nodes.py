"""The small pipeline on two Ray nodes of this machine: a head with no CPUs, where the driver
runs, and a worker node that hosts every MCTS worker, policy server replica, evaluator, math
solver and train worker. The worker node starts in another folder, with another home and
none of the driver's environment, so whatever reaches the workers reaches them through Ray
or the run folder. Its labeled rows and evaluation equal the one-node run's (conftest's
``finished_run``, same config, same bootstrap).

The run starts from the one-node run's bootstrap and its finished KTO and DEPO stages: BC's
Ray Train run is the train stages' one path onto the worker node (KTO and DEPO add a loss and
π_BC's scores to it), and each preference stage costs the suite about a minute. Their
policies are still evaluated on the worker node, beside the π_BC trained there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from depo_ray.cluster import free_port
from depo_ray.processes import kill, marked
from tests.conftest import small_pipeline
from tests.processes import SESSION_MARKER

pytestmark = [pytest.mark.ray, pytest.mark.vllm]

ROOT = Path(__file__).resolve().parents[1]
MARKER = "DEPO_RAY_TWO_NODES_TEST"
WORKER_ROLES = ("PolicyServer", "MCTSWorker", "Evaluator", "MathSolver", "RayTrainWorker")
"""The actors that do the work: each must have run, and only on the worker node."""

_PROBE = """
import json, ray
from ray._private.state import actors
ray.init(address=%r, logging_level="ERROR")
nodes = {n["NodeID"]: n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]}
print(json.dumps({"nodes": nodes, "actors": [[a["ActorClassName"], a["Address"]["NodeID"]] for a in actors().values()]}))
"""


def _probe(address: str, env: dict) -> dict:
    """The cluster's alive nodes (id -> CPUs) and every actor it ever started (class, node)."""
    out = subprocess.run([sys.executable, "-c", _PROBE % address], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def head_and_worker(tmp_path_factory):
    """A head declaring no CPUs (so no actor that asks for one can land there) and a 2-CPU
    worker node started from / with an empty home and only PATH from the environment; yields
    the head's address and the driver's environment."""
    ray_cli, port, marker = str(Path(sys.executable).with_name("ray")), free_port(), uuid.uuid4().hex
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    tags = {MARKER: marker, SESSION_MARKER: os.environ.get(SESSION_MARKER, "")}
    driver_env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "disabled", **tags}
    node_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path_factory.mktemp("worker-home")),
                "RAY_AUTH_MODE": "disabled", **tags}
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=0", f"--temp-dir={temp_dir}",
                        "--include-dashboard=false", "--disable-usage-stats"],
                       env=driver_env, check=True, capture_output=True, timeout=180)
        subprocess.run([ray_cli, "start", f"--address={address}", "--num-cpus=2", "--disable-usage-stats"],
                       env=node_env, cwd="/", check=True, capture_output=True, timeout=180)
        deadline = time.monotonic() + 180
        while len(_probe(address, driver_env)["nodes"]) < 2:
            assert time.monotonic() < deadline, "the worker node did not join"
            time.sleep(2)
        yield address, driver_env
    finally:
        kill(marked(MARKER, marker))
        shutil.rmtree(temp_dir, ignore_errors=True)


def _labeled_rows(run: Path) -> list[dict]:
    """The labeled table without ``policy`` (the π_BC folder's path, which differs by run)."""
    return sorted(pq.read_table(run / "labeled" / "all.parquet").drop(["policy"]).to_pylist(),
                  key=lambda row: json.dumps(row, sort_keys=True))


def test_the_pipeline_on_a_worker_node_labels_and_evaluates_as_on_one_node(head_and_worker, finished_run, tmp_path):
    address, env = head_and_worker
    _, one_node_report = finished_run
    one_node = one_node_report.parent
    run = tmp_path / "run"
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(small_pipeline(run)))
    shutil.copytree(one_node / "bootstrap", run / "bootstrap")  # the same π_0 and demos, as finished_run starts from
    (run / "stages").mkdir()
    for stage in ("kto", "depo"):
        shutil.copytree(one_node / stage, run / stage)
        shutil.copy(one_node / "stages" / f"{stage}.json", run / "stages")
    out = subprocess.run([sys.executable, "jobs/pipeline.py", "--config", str(config_file)], cwd=ROOT,
                         env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert "[bc] finished" in out.stdout and "[kto] done earlier" in out.stdout and "[depo] done earlier" in out.stdout

    cluster = _probe(address, env)
    worker_node = next(node for node, cpus in cluster["nodes"].items() if cpus == 2)
    placed = {}
    for class_name, node in cluster["actors"]:
        placed.setdefault(class_name, set()).add(node)
    assert {role: placed.get(role) for role in WORKER_ROLES} == {role: {worker_node} for role in WORKER_ROLES}

    assert (run / "report.md").exists() and "| DEPO − KTO |" in (run / "report.md").read_text()
    assert _labeled_rows(run) == _labeled_rows(one_node)
    assert (run / "outcomes.csv").read_text() == (one_node / "outcomes.csv").read_text()
    for method in ("bc", "kto", "depo"):
        rows = [pq.read_table(folder / "math" / method / "seed-0" / "problems.parquet").to_pylist()
                for folder in (run, one_node)]
        assert rows[0] == rows[1], method
