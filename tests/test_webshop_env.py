"""WebShop text mode on a small fixed catalog: page texts, clickables and navigation as the
original's templates give them (hand-checked strings), the reward at Buy Now, snapshots,
and the oracle expert on a generated catalog."""

import json

import pytest

from environments.webshop.catalog import Shop, ShopConfig
from environments.webshop.env import WebShopConfig, WebShopTextEnv

SHAMPOO = {"asin": "B000SHAMP1", "name": "Herbal Tea Tree Shampoo, Sulfate Free", "query": "shampoo",
           "category": "beauty", "product_category": "Beauty & Personal Care › Hair Care › Shampoos",
           "full_description": "A gentle shampoo for every day.", "small_description": ["Sulfate free", "Made with tea tree oil"],
           "pricing": "$12.99", "images": ["https://img/1.jpg"],
           "customization_options": {"Size": [{"value": "8 Fl Oz", "image": None}, {"value": "16 Fl Oz", "image": None}],
                                     "Scent": [{"value": "Tea Tree", "image": None}, {"value": "Lavender/Mint", "image": None}]}}
CONDITIONER = {**SHAMPOO, "asin": "B000COND01", "name": "Argan Oil Conditioner", "query": "conditioner",
               "full_description": "Smooth hair.", "small_description": ["Argan oil"], "pricing": "$8.00$15.50",
               "customization_options": None}
SOFA = {**SHAMPOO, "asin": "B000SOFA01", "name": "Grey Velvet Sofa", "query": "sofa", "category": "furniture",
        "product_category": "Home & Kitchen › Furniture › Sofas", "full_description": "", "small_description": ["Velvet"],
        "pricing": "$399.00", "customization_options": {"Color": [{"value": "Grey", "image": None}]}}
INSTRUCTIONS = {"B000SHAMP1": [{"instruction": "i need a sulfate free tea tree shampoo in 16 fl oz",
                                "instruction_attributes": ["sulfate free"], "instruction_options": ["16 fl oz", "tea tree"]}]}
ATTRIBUTES = {p["asin"]: {"attributes": a} for p, a in ((SHAMPOO, ["sulfate free", "tea tree"]), (CONDITIONER, ["argan oil"]),
                                                       (SOFA, ["velvet"]))}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webshop")
    (folder / "items_shuffle.json").write_text(json.dumps([SHAMPOO, CONDITIONER, SOFA]))
    (folder / "items_ins_v2.json").write_text(json.dumps(ATTRIBUTES))
    (folder / "items_human_ins.json").write_text(json.dumps(INSTRUCTIONS))
    config = ShopConfig(data_dir=str(folder), num_products=None, cache_dir=str(folder / "cache"))
    return WebShopTextEnv(WebShopConfig(shop=config, max_turns=15), shop=Shop(config))


def act(env, action):
    return env.step(f"Thought: next.\nAction: {action}")


def test_the_pages_read_like_the_original_text_mode(env):
    observation, _ = env.reset(options={"task_id": 0})
    goal = env.session.goal
    assert goal["instruction_text"].startswith("i need a sulfate free tea tree shampoo in 16 fl oz")
    assert observation == f"WebShop [SEP] Instruction: [SEP] {goal['instruction_text']} [SEP] Search"
    assert list(env.clickables()) == ["search"]

    results, *_ = act(env, "search[Tea Tree Shampoo]")
    head = f"Instruction: [SEP] {goal['instruction_text']} [SEP] Back to Search [SEP] Page 1 (Total results: "
    assert results.startswith(head) and "[SEP] Next > [SEP] B000SHAMP1 [SEP] Herbal Tea Tree Shampoo, Sulfate Free [SEP] $12.99" in results
    assert "< Prev" not in results and "B000SOFA01" not in results  # no positive score for the sofa
    assert {"back to search", "next >", "b000shamp1"} <= set(env.clickables())

    item, *_ = act(env, "click[b000shamp1]")
    assert item == (f"Instruction: [SEP] {goal['instruction_text']} [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] "
                    "8 fl oz [SEP] 16 fl oz [SEP] scent [SEP] tea tree [SEP] lavender | mint [SEP] Herbal Tea Tree Shampoo, "
                    "Sulfate Free [SEP] Price: $12.99 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews "
                    "[SEP] Buy Now")
    assert set(env.clickables()) == {"back to search", "< prev", "8 fl oz", "16 fl oz", "tea tree", "lavender | mint",
                                     "description", "features", "reviews", "buy now"}

    features, *_ = act(env, "click[Features]")
    assert features.endswith("Back to Search [SEP] < Prev [SEP] Sulfate free [SEP] Made with tea tree oil")
    assert act(env, "click[< Prev]")[0] == item


def test_invalid_actions_change_nothing_and_navigation_goes_back(env):
    env.reset(options={"task_id": 0})
    start = env.render()
    for action in ("click[search]", "click[Buy Now]", "buy it", "search[]"):
        observation, reward, terminated, _, info = act(env, action)
        assert observation == f"'{action}' is not an available action. Nothing happened.\n{start}"
        assert env.render() == start and reward == 0 and not terminated and not info["valid"]
    assert env.step("I would rather not say.")[0].startswith("No action found.")
    act(env, "search[shampoo]")
    results = env.render()
    act(env, "click[b000shamp1]")
    assert act(env, "click[< Prev]")[0] == results  # the same results page
    act(env, "click[next >]")
    assert "Page 2" in env.render() and "< Prev" in env.render()
    assert act(env, "click[< prev]")[0] == results
    act(env, "click[Back to Search]")
    assert env.render() == start and env.session.keywords is None
    act(env, "search[argan conditioner]")  # a search works from any page, the results page too
    assert act(env, "search[sofa]")[0].count("B000SOFA01") == 1


def test_buying_ends_with_the_originals_reward(env):
    env.reset(options={"task_id": 0})
    act(env, "search[tea tree shampoo]")
    act(env, "click[b000shamp1]")
    act(env, "click[8 fl oz]")
    snapshot = env.snapshot()
    *_, reward, terminated, _, info = act(env, "click[buy now]")
    # sulfate free matched, 16 fl oz missed, tea tree missed, price within: (1 + 0 + 1) / (1 + 2 + 1)
    assert terminated and reward == pytest.approx(0.5) and not info["success"]
    env.restore(snapshot)
    act(env, "click[16 fl oz]")
    act(env, "click[tea tree]")
    assert env.session.options == {"size": "16 fl oz", "scent": "tea tree"}
    *_, reward, terminated, _, info = act(env, "click[Buy Now]")
    assert terminated and reward == 1.0 and info["success"]
    with pytest.raises(RuntimeError, match="episode is over"):
        act(env, "click[buy now]")


def test_the_episode_is_truncated_at_max_turns(env):
    short = WebShopTextEnv(WebShopConfig(shop=env.config.shop, max_turns=2), shop=env.shop)
    short.reset(options={"task_id": 0})
    assert act(short, "search[shampoo]")[3] is False
    assert act(short, "search[shampoo]")[3] is True


def test_the_oracle_expert_buys_the_goal_product_on_generated_goals(tmp_path):
    from environments.webshop.expert import WebShopExpert

    config = ShopConfig(generated_products=300, num_products=None, cache_dir=str(tmp_path))
    shop = Shop(config)
    env = WebShopTextEnv(WebShopConfig(shop=config, max_turns=15), shop=shop)
    expert = WebShopExpert(env, seed=0)
    tasks = range(min(100, len(shop.goals)))
    demos = [expert.demonstrate(task) for task in tasks]
    rewards = [d.episode.reward for d in demos]
    assert len(rewards) >= 50 and sum(r == 1.0 for r in rewards) >= 0.95 * len(rewards), sorted(rewards)[:10]
    turns = {d.episode.turns for d in demos}
    assert len(turns) >= 3  # detours and option counts spread the episode lengths
    assert len({len(d.episode.messages[2]["content"]) for d in demos}) > 10  # and Thought lengths vary


@pytest.mark.ray
def test_many_environments_share_one_shop_actor(env, ray_cluster):
    import ray

    shops = lambda: [n for n in ray.util.list_named_actors() if n.startswith("webshop-shop-")]  # noqa: E731
    before = shops()
    try:
        env.reset(options={"task_id": 0})
        local_results = act(env, "search[tea tree shampoo]")[0]
        shared = [WebShopTextEnv(WebShopConfig(shop=env.config.shop, shared_shop=True)) for _ in range(2)]
        for other in shared:
            other.reset(options={"task_id": 0})
            assert act(other, "search[tea tree shampoo]")[0] == local_results
            for action in ("click[b000shamp1]", "click[16 fl oz]", "click[tea tree]"):
                act(other, action)
            assert act(other, "click[buy now]")[1] == 1.0
        assert len({other.shop._actor._actor_id for other in shared}) == 1
        assert len(shops()) == len(before) + 1
    finally:
        for name in set(shops()) - set(before):  # the session's cluster outlives this test
            ray.kill(ray.get_actor(name))


def test_product_clicks_count_the_ids_the_page_showed_as_the_env_judges_them(env):
    from environments.webshop.clicks import product_clicks

    observation, _ = env.reset(options={"task_id": 0})
    messages = [{"role": "system", "content": "shop"}, {"role": "user", "content": observation}]
    valid_product_clicks = []
    for action in ("search[tea tree shampoo]", "click[b000sofa01]", "click[B000SHAMP1]", "click[< Prev]",
                   "click[b000sofa01]", "click[b000sofa01]", "click[next >]"):
        response = f"Thought: next.\nAction: {action}"
        page, *_, info = env.step(response)
        messages += [{"role": "assistant", "content": response}, {"role": "user", "content": page}]
        if action.lower().startswith("click[b0"):
            valid_product_clicks.append(info["valid"])
    # the sofa is never on a results page; the second time it is quoted by the feedback line only
    assert valid_product_clicks == [False, True, False, False]
    counts = product_clicks(messages)
    assert (counts.clicks, counts.on_page) == (4, sum(valid_product_clicks))
