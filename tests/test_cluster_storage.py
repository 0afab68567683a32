"""A cluster whose nodes do not all see the run folder stops the pipeline before any stage,
naming the node and the folder. Two Ray nodes on this machine: the worker node runs in a
mount namespace where a tmpfs hides the folder, as a node with its own disk would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from depo_ray.cluster import free_port, nodes_without
from depo_ray.processes import kill, marked
from tests.conftest import session_ray
from tests.processes import last_own_line

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[1]
MARKER = "DEPO_RAY_STORAGE_TEST"


def test_every_node_of_a_one_node_cluster_sees_the_folder(tmp_path):
    session_ray()
    assert nodes_without(tmp_path) == [] and not list(tmp_path.iterdir())  # the marker is removed


def _alive_nodes(address: str, env: dict) -> int:
    probe = "import ray; ray.init(address=%r, logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))" % address
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else 0


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    """A head that declares 62 CPUs and 8 GPUs (resources only: nothing runs on a GPU) and a
    worker node of 2 CPUs in a mount namespace where a tmpfs hides ``shared``; yields the
    head's address, the environment to reach it with, and ``shared``."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a mount namespace")
    shared = tmp_path_factory.mktemp("shared")
    ray_cli, port, marker = str(Path(sys.executable).with_name("ray")), free_port(), uuid.uuid4().hex
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "disabled", MARKER: marker}
    try:
        subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=62", "--num-gpus=8",
                        f"--temp-dir={temp_dir}", "--include-dashboard=false", "--disable-usage-stats"],
                       env=env, check=True, capture_output=True, timeout=180)
        subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          f'mount -t tmpfs none "{shared}" && exec "{ray_cli}" start --address=127.0.0.1:{port} '
                          "--num-cpus=2 --disable-usage-stats --block"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while _alive_nodes(f"127.0.0.1:{port}", env) < 2:
            assert time.monotonic() < deadline, "the second node did not join"
            time.sleep(2)
        yield f"127.0.0.1:{port}", env, shared
    finally:
        kill(marked(MARKER, marker))
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_node_that_does_not_see_the_run_folder_stops_the_pipeline_in_one_line(two_nodes):
    address, env, shared = two_nodes
    out = subprocess.run([sys.executable, "jobs/pipeline.py", "--set", f"run_dir={shared / 'run'}"], cwd=ROOT,
                         env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=300)
    last = last_own_line(out.stderr)  # a raylet's warning (a full disk, say) may come after the job's word
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert f"run folder {shared / 'run'} is not visible on " in last and last.count("(node ") == 1, last
    assert not (shared / "run" / "stages").exists()  # no stage started


@pytest.mark.parametrize("name", ["qwen2.5_7b_pipeline.yaml", "llama3.1_8b_pipeline.yaml"])
def test_the_8_gpu_configs_plan_fits_a_cluster_with_8_gpus_and_not_this_machine(two_nodes, name, tmp_path):
    address, env, _ = two_nodes
    command = [sys.executable, "jobs/pipeline.py", "--config", f"configs/{name}", "--set", f"run_dir={tmp_path / 'run'}",
               "--dry-run"]
    there = subprocess.run(command, cwd=ROOT, env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=300)
    assert there.returncode == 0 and f"the cluster at {address}: 64 CPUs, 8 GPUs: fits" in there.stdout, there.stderr[-2000:]
    here = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "this machine: " in here.stdout and "does not fit" in here.stdout
