"""A model that cannot be served is refused from its files, in one line naming the path,
before any actor starts."""

import json
import shutil

import pytest

from depo_ray.models.checks import model_problem, serving_problem
from depo_ray.serving.router import start_router
from depo_ray.serving.config import ServingConfig


@pytest.fixture
def policy(tiny_model_dir, tmp_path):
    folder = tmp_path / "policy"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_a_served_folder_passes(policy):
    assert model_problem(str(policy)) is None and serving_problem(str(policy), on_gpu=False) is None


def test_a_hub_id_passes_when_cached_or_when_the_hub_answers_and_is_refused_otherwise(tmp_path, monkeypatch):
    import http.server
    import threading

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    assert "hub cannot be reached" in serving_problem("Qwen/Qwen2.5-7B-Instruct", on_gpu=False)
    snapshot = tmp_path / "hub" / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc")
    assert serving_problem("Qwen/Qwen2.5-7B-Instruct", on_gpu=False) is None  # in the cache
    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{hub.server_address[1]}")
        assert model_problem("meta-llama/Llama-3.1-8B-Instruct") is None  # not cached, but the hub answers
    finally:
        hub.shutdown()


def test_a_mistyped_folder_under_the_project_root_is_not_taken_for_a_hub_id(tmp_path):
    (tmp_path / "runs").mkdir()
    assert model_problem("runs/bootstrap", tmp_path) == f"{tmp_path / 'runs' / 'bootstrap'} does not exist (a folder " \
        "under the project root, not a Hugging Face id)"


@pytest.mark.parametrize("model", ["no/such/bootstrap/bc_model/final", "/nowhere/policy", "no-such-policy"])
def test_a_mistyped_folder_is_named(model):
    assert model in serving_problem(model, on_gpu=False)


def test_a_folder_without_config_or_with_a_broken_one(policy):
    (policy / "config.json").write_text("{ not json")
    assert "config.json is unreadable" in serving_problem(str(policy), on_gpu=False)
    (policy / "config.json").write_text("[1, 2]")
    assert "config.json is not a JSON object" in serving_problem(str(policy), on_gpu=False)
    (policy / "config.json").unlink()
    assert "has no config.json" in serving_problem(str(policy), on_gpu=False)


def test_a_folder_without_weights_or_tokenizer_or_with_a_broken_tokenizer_is_named(policy):
    (policy / "tokenizer.json").write_text("garbage")
    assert model_problem(str(policy)).startswith(f"{policy / 'tokenizer.json'} is unreadable")
    (policy / "tokenizer.json").unlink()
    (policy / "tokenizer_config.json").unlink()
    assert model_problem(str(policy)) == f"{policy}: model folder without a tokenizer (none of tokenizer.json, tokenizer_config.json)"
    (policy / "model.safetensors").unlink()
    assert model_problem(str(policy)).startswith(f"{policy}: model folder without weights (none of model.safetensors,")


def test_a_config_file_that_is_not_utf8_is_named_in_one_line(tmp_path):
    from depo_ray.config import ConfigError, load_yaml
    from depo_ray.pipeline.config import PipelineConfig

    config = tmp_path / "latin1.yaml"
    config.write_bytes("run_dir: runs/x\n# café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text \(byte 0xe9 at offset 21\)"):
        load_yaml(PipelineConfig, config)


def test_a_folder_without_a_chat_template(policy):
    (policy / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((policy / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = None
    (policy / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    assert "no chat template" in serving_problem(str(policy), on_gpu=False)
    (policy / "tokenizer_config.json").write_text("{")
    assert "tokenizer_config.json is unreadable" in serving_problem(str(policy), on_gpu=False)


def test_a_head_size_the_cpu_engine_refuses(policy):
    config = json.loads((policy / "config.json").read_text())
    config["head_dim"] = 48
    (policy / "config.json").write_text(json.dumps(config))
    assert "head size 48" in serving_problem(str(policy), on_gpu=False)
    assert serving_problem(str(policy), on_gpu=True) is None


@pytest.mark.vllm  # it calls what starts policy servers, though it starts none
def test_the_router_refuses_before_any_actor(tmp_path):
    """No Ray cluster runs here: the refusal comes before any actor is created."""
    with pytest.raises(ValueError, match="cannot serve the policy: .*missing"):
        start_router(str(tmp_path / "missing"), ServingConfig())
