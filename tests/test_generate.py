"""End to end on a local Ray cluster: the tiny policy, warm-started by BC on expert demos, is
served by vLLM CPU and searched by 2 MCTS workers; then the same with a policy server killed."""

import json
import os
import re
import shutil
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from depo_ray.bootstrap.warm_start import bootstrap_policy
from depo_ray.env_setup import EnvConfig
from depo_ray.labeling import LabelConfig, label_records
from depo_ray.records import read_records
from depo_ray.search.generate import run_generation, shard_for
from depo_ray.search.config import GenerateConfig
from depo_ray.search.mcts import SearchConfig
from depo_ray.serving import EngineConfig
from depo_ray.serving.config import ServingConfig
from tests.conftest import easy_tasks

pytestmark = [pytest.mark.ray, pytest.mark.vllm]

# Searched tasks: the red ball levels without coloured distractors, where the barely trained
# policy succeeds often enough (greedy: about 1 task in 3) for both labels to appear.
SEARCH_LEVELS = (0, 2)


@pytest.fixture
def policy(tiny_bootstrap, ray_cluster) -> str:
    """The small pipeline's π_BC (tiny model, expert demos, BC): conftest.py's, shared with the
    pipeline run."""
    return str(tiny_bootstrap[2])


def test_the_bootstrap_keeps_its_check_and_a_rerun_trains_nothing(tiny_bootstrap, ray_cluster):
    config, target, final = tiny_bootstrap
    summary = json.loads((Path(target.folder) / "bootstrap.json").read_text())
    (check,) = summary["rounds"]
    # the pipeline's turn budget: the smaller of generate's and evaluate's max_new_tokens
    assert summary["expert_turns"]["turns"] > 0 and summary["expert_turns"]["max_new_tokens"] == 48
    assert check["round"] == 1 and check["turns"] > 0 and 0 <= check["valid_rate"] <= 1
    assert bootstrap_policy(config, target) == final  # done: nothing retrained


ENV = EnvConfig(options={"max_turns": 6})


def generate_config(task_ids) -> GenerateConfig:
    return GenerateConfig(
        task_ids=tuple(task_ids), workers=2, cpus_per_worker=0.25,
        search=SearchConfig(simulations=4, children=2, max_depth=6, temperature=0.5, max_new_tokens=48),
        serving=ServingConfig(cpus_per_replica=1, request_timeout_s=120, health_interval_s=2,
                              engine=EngineConfig(max_model_len=4096, dtype="float32")),
    )


def responses(record) -> tuple:
    return tuple(m["content"] for m in record.messages if m["role"] == "assistant")


def test_mcts_workers_write_labeled_trajectories_and_a_rerun_skips_them(policy, tmp_path):
    tasks = easy_tasks([20, 21, 22, 23], SEARCH_LEVELS)
    config = generate_config(tasks)
    totals = run_generation(config, policy, ENV, tmp_path, progress=False)
    assert not totals["failed"] and totals["tasks"] == len(tasks) and all(shard_for(tmp_path, t).exists() for t in tasks)
    records = read_records(tmp_path)
    assert len(records) == totals["trajectories"] and all(r.source == "mcts" for r in records)
    assert len({(r.task_id, responses(r)) for r in records}) == len(records)  # no duplicates
    labels = {r.label for r in label_records(records, LabelConfig())}
    assert {"desirable", "undesirable"} <= labels
    assert len({r.steps for r in records}) > 1 and len({r.total_tokens for r in records}) > 1
    again = run_generation(config, policy, ENV, tmp_path, progress=False)
    assert again["tasks"] == 0 and again["skipped"] == len(tasks)
    # The dashboard's metrics: Ray's Prometheus endpoint on this node exports the stage's counters.
    assert scraped("ray_depo_generate_tasks_done", at_least=len(tasks)) >= len(tasks)  # a counter (a gauge expires)


def scraped(metric: str, at_least: float, timeout_s: float = 90.0) -> float:
    """The summed value of ``metric`` (a counter may carry Prometheus's ``_total``) on this
    node's Prometheus endpoint, polled until it reaches ``at_least`` (Ray exports on an
    interval), each sample checked to carry Ray's tags."""
    import urllib.request

    import ray

    port = ray._private.worker.global_worker.node.metrics_export_port
    deadline = time.time() + timeout_s
    while True:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        samples = [line for line in text.splitlines() if line.startswith((metric + "{", metric + "_total{"))]
        value = sum(float(line.rsplit(" ", 1)[1]) for line in samples)
        if value >= at_least or time.time() > deadline:
            break
        time.sleep(2)
    assert samples, f"{metric} not exported on port {port}"
    assert all("SessionName=" in line for line in samples), samples
    return value


def policy_router():
    import ray

    routers = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
               if re.fullmatch(r"policy-router-\w{8}", a["name"])]  # not its replicas, named after it
    return ray.get_actor(routers[0]) if routers else None


def test_a_policy_server_killed_mid_run_with_many_requests_in_flight_loses_no_task(policy, tmp_path):
    """Killed once some tasks are done and others still searching, with trees interleaved in
    each worker keeping many requests at the replica: they all fail at once, and every one
    must be retried on the replacement."""
    import ray

    tasks = easy_tasks(range(24, 32), SEARCH_LEVELS)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(totals=run_generation(generate_config(tasks), policy, ENV, tmp_path, progress=False)))
    runner.start()
    killed, in_flight = None, 0
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and runner.is_alive():
        time.sleep(0.1)
        router = policy_router()
        if router is None or not any(shard_for(tmp_path, t).exists() for t in tasks):
            continue
        if not all(ray.get(router.stats.remote())["ready"]):
            continue
        (replica,) = ray.get(router.replica_handles.remote())
        # the engine's own count, read in the replica's process (a request of n samples counts n)
        in_flight = ray.get(replica.__ray_call__.remote(lambda server: server.engine.get_num_unfinished_requests()), timeout=60)
        if in_flight >= 6:
            names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
            os.kill(ray.get(replica.pid.remote(), timeout=60), signal.SIGKILL)
            killed = replica
    runner.join(timeout=600)
    assert killed is not None, "the run ended before a server could be killed mid-run with many requests in flight"
    totals = outcome["totals"]
    assert in_flight >= 6 and totals["replica_replacements"] >= 1 and not totals["failed"]
    # the dashboard's Actors page names them: the replica by its router, slot and incarnation
    assert any(re.fullmatch(r"policy-router-\w{8}-replica-0\.0", name) for name in names)
    workers = [name for name in names if name.startswith("mcts-worker-")]  # one may have finished its queue
    assert workers and all(re.fullmatch(r"mcts-worker-\d-\w{6}", name) for name in workers)
    records = read_records(tmp_path)
    assert all(shard_for(tmp_path, t).exists() for t in tasks) and {r.task_id for r in records} == {str(t) for t in tasks}
    assert len({(r.task_id, responses(r)) for r in records}) == len(records)


def test_a_run_that_fails_leaves_no_worker_or_replica_behind(policy, tmp_path):
    """An exception in the driver's loop (here: the shard folder is a file) ends the run, and
    its MCTS workers and vLLM replicas go with it instead of holding the cluster."""
    import ray

    from depo_ray.processes import marked
    from tests.processes import SESSION_MARKER, describe

    blocked = tmp_path / "shards"
    blocked.write_text("a file where the shard folder should be")
    with pytest.raises(OSError):
        run_generation(generate_config(easy_tasks([40], SEARCH_LEVELS)), policy, ENV, blocked, progress=False)

    def leftovers() -> list:
        return marked(SESSION_MARKER, os.environ[SESSION_MARKER], titles=("ray::MCTSWorker", "ray::PolicyServer", "ray::PolicyRouter"))

    deadline = time.time() + 60
    while (leftovers() or ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"]) and time.time() < deadline:
        time.sleep(1)
    assert not leftovers(), [describe(p) for p in leftovers()]
    assert ray.available_resources().get("CPU", 0) == ray.cluster_resources()["CPU"]


def test_a_checkpoint_whose_engine_never_starts_stops_the_stage(policy, tmp_path):
    """Weights that pass the file checks but break vLLM's load: the router gives up after
    ``max_start_failures`` starts in a row instead of restarting forever, and the stage
    raises with the start error."""
    broken = tmp_path / "broken"
    shutil.copytree(policy, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    config = generate_config(easy_tasks([40], SEARCH_LEVELS))
    config = replace(config, serving=replace(config.serving, max_start_failures=2))
    with pytest.raises(Exception, match="failed to start 2 times"):
        run_generation(config, str(broken), ENV, tmp_path / "out", progress=False)
    assert not list((tmp_path / "out").glob("*.parquet"))
