"""Replica choice of the policy router (pure, and its lending while replicas start, without
Ray) and config checks."""

import asyncio
from types import SimpleNamespace

import pytest

from depo_ray.serving.router import choose_replica
from depo_ray.serving.config import ServingConfig


def test_the_ready_replica_with_fewest_leases_is_lent():
    assert choose_replica([3, 1, 2], [True, True, True]) == 1
    assert choose_replica([3, 1, 2], [True, False, True]) == 2
    assert choose_replica([2, 2, 2], [True, True, True]) == 0  # lowest index on ties


def test_no_ready_replica_means_wait():
    assert choose_replica([0, 0], [False, False]) is None


@pytest.mark.parametrize("bad", [{"replicas": 0}, {"max_attempts": 0}, {"request_timeout_s": 0}, {"gpus_per_replica": -1}])
def test_bad_serving_settings_are_refused(bad):
    with pytest.raises(ValueError, match="serving"):
        ServingConfig(**bad)


def test_policies_share_an_engine_only_with_the_same_architecture_tokenizer_and_generation_defaults(tmp_path):
    import json
    import shutil

    from depo_ray.serving.swap import shares_engine

    first = tmp_path / "first"
    first.mkdir()
    (first / "config.json").write_text(json.dumps({"_name_or_path": "first", "hidden_size": 128, "num_hidden_layers": 2}))
    (first / "tokenizer.json").write_text('{"vocab": ["a", "b"]}')
    (first / "generation_config.json").write_text('{"eos_token_id": 2}')
    (first / "model.safetensors").write_bytes(b"first weights")

    def variant(name: str, edit) -> object:
        folder = tmp_path / name
        shutil.copytree(first, folder)
        edit(folder)
        return folder

    trained = variant("trained", lambda f: ((f / "model.safetensors").write_bytes(b"other weights"),
                                            (f / "config.json").write_text(json.dumps(
                                                {"_name_or_path": "trained", "hidden_size": 128, "num_hidden_layers": 2}))))
    assert shares_engine(first, trained)
    wider = variant("wider", lambda f: (f / "config.json").write_text(json.dumps({"hidden_size": 256, "num_hidden_layers": 2})))
    retokenized = variant("retokenized", lambda f: (f / "tokenizer.json").write_text('{"vocab": ["a", "c"]}'))
    no_defaults = variant("no_defaults", lambda f: (f / "generation_config.json").unlink())
    assert not any(shares_engine(first, other) for other in (wider, retokenized, no_defaults))
    assert not shares_engine(first, "HuggingFaceTB/SmolLM2-135M-Instruct")  # a hub id, not a folder: its own engine


def test_policies_served_in_turn_load_into_the_running_router_when_they_share_its_engine(monkeypatch):
    from depo_ray.serving import router

    events = []

    class FakeRouter:
        def __init__(self, model):
            self.model = model
            self.load = type("Method", (), {"remote": staticmethod(lambda m: events.append(("load", m)))})

    monkeypatch.setattr(router, "start_router", lambda model, config, name: events.append(("start", model)) or FakeRouter(model))
    monkeypatch.setattr(router, "stop_router", lambda served: events.append(("stop", served.model)))
    monkeypatch.setattr(router, "shares_engine", lambda a, b: a.startswith("tiny") == b.startswith("tiny"))
    monkeypatch.setattr(router.ray, "get", lambda ref: ref)
    with router.serving_in_turn(ServingConfig(), "eval-router") as turns:
        first = turns.serve("tiny/bc")
        assert turns.serve("tiny/kto") is first and turns.serve("tiny/kto") is first
        other = turns.serve("smollm2/bc")
    assert other is not first
    assert events == [("start", "tiny/bc"), ("load", "tiny/kto"), ("stop", "tiny/bc"), ("start", "smollm2/bc"),
                      ("stop", "smollm2/bc")]


class _StartingReplica:
    """Stands in for a PolicyServer actor handle: ``health.remote()`` answers once ``started``."""

    def __init__(self):
        self.started = asyncio.get_running_loop().create_future()
        self.health = SimpleNamespace(remote=lambda: asyncio.shield(self.started))


def test_callers_that_come_while_the_replicas_start_are_spread_over_all_of_them(monkeypatch):
    """Workers now start while the replicas do: if the first replica up took every early
    lease, one engine would serve all the trees while the other idled."""
    from depo_ray.serving import router as router_module

    async def scenario():
        replicas = []

        def launch(self, index):  # in place of starting a PolicyServer actor
            self.slots[index].handle = _StartingReplica()
            replicas.append(self.slots[index].handle)
            self.slots[index].ready = self.slots[index].awaited = False

        monkeypatch.setattr(router_module.PolicyRouter, "_launch", launch)
        router = router_module.PolicyRouter("policy", ServingConfig(replicas=2, health_interval_s=3600))
        leases = [asyncio.create_task(router.lease()) for _ in range(2)]
        replicas[0].started.set_result("policy")
        await asyncio.sleep(0.05)
        assert not any(lease.done() for lease in leases)  # one replica up is not enough yet
        replicas[1].started.set_result("policy")
        first, second = await asyncio.wait_for(asyncio.gather(*leases), 5)
        assert {first.index, second.index} == {0, 1}
        later = await asyncio.wait_for(router.lease(), 5)  # later callers do not wait again
        assert router.stats()["leases"] == [2, 1] and later.index == 0
        for task in router._tasks:
            task.cancel()

    asyncio.run(scenario())
