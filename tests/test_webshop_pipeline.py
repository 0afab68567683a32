"""WebShop on the CPU default: the tiny model's tokenizer, the bootstrap on the oracle, and
search and evaluation through vLLM on a generated catalog."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from depo_ray.config import ConfigError, from_dict, load_yaml
from depo_ray.env_setup import EnvConfig, expert_kit, make_env, paths_under, paths_within
from depo_ray.models.tiny import UNK, build_tokenizer, vocabulary_of
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.runner import stage_settings, to_run
from depo_ray.pipeline.recipe import STAGES

ROOT = Path(__file__).resolve().parents[1]
PRODUCTS = 1700  # enough goals for a train split (goal ids from 1500)


@pytest.fixture(scope="module")
def shop_env(tmp_path_factory) -> EnvConfig:
    cache = tmp_path_factory.mktemp("webshop_cache")
    return EnvConfig("webshop", {"shop": {"generated_products": PRODUCTS, "num_products": None, "cache_dir": str(cache)},
                                 "max_turns": 8})


def test_the_tiny_tokenizer_gives_back_every_oracle_turn_exactly_and_knows_every_page_word(shop_env):
    from environments.webshop.expert import WebShopExpert, WebShopExpertConfig

    task_env = make_env(shop_env)
    kit = expert_kit("webshop")
    tokenizer = build_tokenizer(vocabulary_of(kit.vocabulary_texts(task_env.env)), keep_spacing=kit.keep_spacing)
    expert = WebShopExpert(task_env.env, WebShopExpertConfig(detour_share=0.5), seed=1)
    replies = pages = 0
    for task_id in range(0, task_env.env.shop.num_goals(), 7):
        for message in expert.demonstrate(task_id).episode.messages:
            ids = tokenizer(message["content"], add_special_tokens=False)["input_ids"]
            assert tokenizer.unk_token_id not in ids, (task_id, message["content"])
            if message["role"] == "assistant":
                # a click must reach the env character for character ("x-large", "3.4 fl oz (pack of 1)")
                assert tokenizer.decode(ids) == message["content"].lower()
                replies += 1
            pages += message["role"] == "user"
    assert replies > 500 and pages > 500
    # every product's results, item and sub pages, most of which the oracle never opens
    from environments.webshop import pages as webshop_pages

    shop = task_env.env.shop
    asins = [product["asin"] for product in shop.catalog.products]
    sessions = [webshop_pages.Session(shop.goal(0), page="results", results=asins[i:i + 10]) for i in range(0, len(asins), 10)]
    for asin in asins:
        sessions.append(webshop_pages.Session(shop.goal(0), page="item", asin=asin))
        sessions += [webshop_pages.Session(shop.goal(0), page="item_sub", asin=asin, sub_page=sub) for sub in webshop_pages.SUB_PAGES]
    for session in sessions:
        text = webshop_pages.observation(session, shop)
        assert tokenizer.unk_token_id not in tokenizer(text, add_special_tokens=False)["input_ids"], text
    assert tokenizer.convert_ids_to_tokens(tokenizer("click[x-large]")["input_ids"]) == ["click", "[", "x", "-", "large", "]"]
    assert UNK in tokenizer.get_vocab()


def test_the_webshop_cpu_config_bootstraps_and_names_a_bad_expert_option(tmp_path):
    config = load_yaml(PipelineConfig, ROOT / "configs" / "cpu_webshop_pipeline.yaml")
    assert config.env.name == "webshop" and config.policy is None and to_run(config, None)[0].name == "bootstrap"
    assert min(config.bootstrap.tasks) >= 1500 and max(config.evaluate.task_ids) < 500  # train goals, test goals
    data = yaml.safe_load((ROOT / "configs" / "cpu_webshop_pipeline.yaml").read_text())
    data["bootstrap"]["expert"] = {"verbosity_weights": [1, 1, 1, 1, 1]}  # BabyAI's five levels; WebShop has four
    with pytest.raises(ConfigError, match=r"bootstrap\.expert: .*verbosity_weights"):
        from_dict(PipelineConfig, data)
    data["bootstrap"]["expert"] = {"detours": 2}
    with pytest.raises(ConfigError, match=r"bootstrap\.expert\.detours: unknown key"):
        from_dict(PipelineConfig, data)
    data["bootstrap"]["expert"] = {}
    data["bootstrap"]["check_tasks"] = [3, 1500]
    with pytest.raises(ConfigError, match=r"bootstrap\.check_tasks: \[3\] are webshop test tasks"):
        from_dict(PipelineConfig, data)
    del data["bootstrap"]["check_tasks"], data["bootstrap"]["tasks"]  # BabyAI's defaults: WebShop test goals
    with pytest.raises(ConfigError, match=r"bootstrap\.tasks: every task is one of webshop's test tasks"):
        from_dict(PipelineConfig, data)
    resolved = paths_under(config.env, tmp_path)
    assert resolved.options["shop"]["cache_dir"] == str(tmp_path / "runs" / "webshop_cache")
    assert config.env.options["shop"]["cache_dir"] == "runs/webshop_cache"  # the loaded config is left as it was


def test_a_folder_given_by_its_absolute_path_reads_as_the_config_writes_it(tmp_path):
    config = load_yaml(PipelineConfig, ROOT / "configs" / "cpu_webshop_pipeline.yaml")
    absolute = {**config.env.options, "shop": {**config.env.options["shop"], "cache_dir": str(tmp_path / "runs" / "webshop_cache")}}
    given = replace(config, env=EnvConfig("webshop", absolute))
    generate = next(s for s in STAGES if s.name == "generate")
    assert stage_settings(generate, given) != stage_settings(generate, config)  # what the stale check saw
    within = replace(given, env=paths_within(given.env, tmp_path))
    assert within.env.options["shop"]["cache_dir"] == "runs/webshop_cache"
    assert stage_settings(generate, within) == stage_settings(generate, config)
    outside = paths_within(given.env, tmp_path / "runs" / "elsewhere")  # not under the root: kept as given
    assert outside.options["shop"]["cache_dir"] == str(tmp_path / "runs" / "webshop_cache")


@pytest.mark.ray
@pytest.mark.vllm
def test_the_bootstrapped_tiny_model_searches_and_is_evaluated_through_vllm(ray_cluster, shop_env, tmp_path):
    from depo_ray.bootstrap.warm_start import bootstrap_policy
    from depo_ray.bootstrap.config import BootstrapConfig, BootstrapRun
    from depo_ray.evaluate.episodes import run_evaluation
    from depo_ray.evaluate.config import EvalConfig
    from depo_ray.losses.config import LossConfig
    from depo_ray.records import read_records
    from depo_ray.search.generate import run_generation
    from depo_ray.search.config import GenerateConfig
    from depo_ray.search.mcts import SearchConfig
    from depo_ray.serving import EngineConfig
    from depo_ray.serving.router import serving
    from depo_ray.serving.config import ServingConfig
    from depo_ray.train.config import TrainConfig

    bootstrap = BootstrapConfig(
        task_ids=tuple(range(1500, 1524)), expert={"detour_share": 0.3}, check_tasks=(1548,), min_valid_rate=0.0, max_rounds=1,
        train=TrainConfig(loss=LossConfig(name="sft"), lora=None, learning_rate=3e-3, epochs=3, global_batch_size=4,
                          micro_batch_size=4, checkpoint_every=100),
    )
    policy = str(bootstrap_policy(bootstrap, BootstrapRun(str(tmp_path / "bootstrap"), shop_env), progress=False))
    demos = read_records(tmp_path / "bootstrap" / "demos")
    assert len(demos) == 24 and {r.env for r in demos} == {"webshop"} and all(r.reward == 1.0 for r in demos)
    (check,) = json.loads((tmp_path / "bootstrap" / "bootstrap.json").read_text())["rounds"]
    assert check["turns"] > 0

    served = ServingConfig(cpus_per_replica=1, request_timeout_s=120,
                           engine=EngineConfig(max_model_len=4096, dtype="float32"))
    generated = GenerateConfig(
        task_ids=(1550, 1551), workers=2, cpus_per_worker=0.25, serving=served,
        search=SearchConfig(simulations=2, children=2, max_depth=4, temperature=0.5, max_new_tokens=48),
    )
    evaluated = EvalConfig(task_ids=(0, 1), serving=served, max_new_tokens=48)
    with serving(policy, served, "webshop-test") as router:  # one engine for the search and the evaluation
        totals = run_generation(generated, policy, shop_env, tmp_path / "trajectories", progress=False, router=router)
        summary = run_evaluation(evaluated, policy, shop_env, tmp_path / "eval", "bc", progress=False, router=router)
    records = read_records(tmp_path / "trajectories")
    assert not totals["failed"] and totals["tasks"] == 2 and records
    assert {r.env for r in records} == {"webshop"} and {r.task_id for r in records} <= {"1550", "1551"}
    assert summary["tasks"] == 2 and 0 <= summary["succ"] <= 1 and summary["s_all"] >= 1
    assert 0 <= summary["invalid_action_rate"] <= 1 and summary["t_all"] > 0
    played = read_records(tmp_path / "eval" / "trajectories.parquet")
    assert sorted(r.task_id for r in played) == ["0", "1"]
    assert all(r.messages[1]["content"].startswith("WebShop [SEP] Instruction:") for r in played)
