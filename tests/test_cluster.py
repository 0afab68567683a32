"""Ray actors and their processes: one whose teardown hangs is ended after Ray marks it dead; a
dead one's work is played again on a replacement, and a pool whose actors keep dying stops
after its cap (evaluation's, math's and generation's pools alike)."""

import os
import time
from pathlib import Path

import psutil
import pytest


class Stuck:
    """An actor whose process hangs on exit, as a Train controller's sometimes does."""

    def __init__(self):
        import atexit

        atexit.register(time.sleep, 3600)

    def pid(self) -> int:
        return os.getpid()


@pytest.mark.ray
def test_an_actor_process_that_outlives_its_actor_is_ended_and_a_live_one_is_not(ray_cluster):
    import ray

    from depo_ray.cluster import actor_ids, end_outlived_actors

    live = None
    try:
        actor = ray.remote(num_cpus=0)(Stuck)
        stuck, live = actor.remote(), actor.remote()
        stuck_pid, live_pid = ray.get([stuck.pid.remote(), live.pid.remote()])
        assert len(actor_ids(("Stuck",))) == 2
        started = {stuck._actor_id.hex()}
        del stuck  # its last handle: Ray ends it gracefully, and its exit hangs
        time.sleep(5)
        assert psutil.pid_exists(stuck_pid), "the stand-in for a hung teardown exited after all"
        assert end_outlived_actors(("Stuck",), started=started, grace_s=2) == [stuck_pid]
        assert not psutil.pid_exists(stuck_pid) or psutil.Process(stuck_pid).status() == psutil.STATUS_ZOMBIE
        assert psutil.pid_exists(live_pid) and ray.get(live.pid.remote()) == live_pid
    finally:
        if live is not None:
            ray.kill(live)



class Fragile:
    """Squares numbers; its process dies the first time it is given ``fatal`` (a marker file
    remembers the death across replacements; with no folder, every time), and it raises on
    negative numbers."""

    def __init__(self, folder: str | None, fatal: int):
        self.marker, self.fatal = folder and os.path.join(folder, "died"), fatal

    def square(self, x: int) -> int:
        if x == self.fatal and not (self.marker and os.path.exists(self.marker)):
            if self.marker:
                open(self.marker, "w").close()
            os._exit(1)
        if x < 0:
            raise ValueError(f"negative: {x}")
        return x * x


def test_work_is_handed_out_in_order_in_batches_of_the_given_size():
    from depo_ray.cluster import in_batches

    assert in_batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert in_batches([1, 2], 16) == [[1, 2]] and in_batches([], 4) == []


def test_a_pool_replaces_dead_actors_up_to_its_cap_then_names_its_role_and_the_last_cause():
    from depo_ray.cluster import ActorsKeepDying, ReplaceableActors

    started = []
    pool = ReplaceableActors("math-solver", lambda name: started.append(name) or name.upper(), max_replacements=2)
    assert pool.start().startswith("MATH-SOLVER-0-")
    assert pool.replace(OSError("killed once")).startswith("MATH-SOLVER-1-") and pool.replace(OSError("killed twice"))
    last = OSError("killed a third time")
    with pytest.raises(ActorsKeepDying, match=r"math-solver actors died 3 times.* 2 replacements.*killed a third time") as raised:
        pool.replace(last)
    assert raised.value.__cause__ is last and pool.replacements == 3
    assert len(started) == 3 and len(set(started)) == 3  # none started past the cap; each named anew


@pytest.fixture
def killed_actors():
    """Handles the test adds; killed after it, since the session's cluster outlives it."""
    import ray

    made = []
    yield made
    for handle in made:
        ray.kill(handle)


def fragile_pool(made: list, folder: str | None, fatal: int, max_replacements: int = 3):
    import ray

    from depo_ray.cluster import ReplaceableActors

    actor = ray.remote(num_cpus=0)(Fragile)

    def start(name: str):
        made.append(actor.options(name=name).remote(folder, fatal))
        return made[-1]
    return ReplaceableActors("fragile", start, max_replacements)


def square(actor, x: int):
    return actor.square.remote(x)


@pytest.mark.ray
def test_a_dead_actors_item_is_played_again_on_a_new_actor_and_a_failing_call_is_not(ray_cluster, tmp_path, killed_actors):
    import ray

    from depo_ray.cluster import map_on_replaceable_actors

    pool = fragile_pool(killed_actors, str(tmp_path), fatal=3)
    results = list(map_on_replaceable_actors(pool, square, list(range(8)), workers=2))
    assert sorted(results) == [x * x for x in range(8)] and (tmp_path / "died").exists() and pool.replacements == 1
    pool = fragile_pool(killed_actors, str(tmp_path), fatal=3)
    with pytest.raises(ray.exceptions.RayTaskError, match="negative"):
        list(map_on_replaceable_actors(pool, square, [1, -2, 4], workers=2))
    assert pool.replacements == 0


@pytest.mark.ray
def test_a_pool_whose_actors_keep_dying_stops_after_its_cap_with_the_last_death(ray_cluster, killed_actors):
    from ray.exceptions import RayActorError

    from depo_ray.cluster import ActorsKeepDying, map_on_replaceable_actors

    pool = fragile_pool(killed_actors, None, fatal=3, max_replacements=2)
    with pytest.raises(ActorsKeepDying, match="fragile actors died 3 times") as raised:
        list(map_on_replaceable_actors(pool, square, [1, 3, 2], workers=1))
    assert isinstance(raised.value.__cause__, RayActorError) and len(killed_actors) == 3


class DyingWorker:
    """Stands in for MCTSWorker: takes one task, says so, notes it in ``log`` and its process
    dies; with the queue empty it ends, as MCTSWorker does."""

    log = ""

    def __init__(self, name: str, *_):
        self.name = name

    def run(self, tasks, results) -> int:
        from ray.util.queue import Empty

        from depo_ray.search.worker import TaskStarted

        try:
            task_id = tasks.get(block=False)
        except Empty:
            return 0
        with open(self.log, "a") as out:
            out.write(f"{self.name} {task_id}\n")
        results.put(TaskStarted(self.name, task_id))
        os._exit(1)


@pytest.mark.ray
def test_generation_whose_worker_keeps_dying_stops_after_the_cap_having_queued_its_task_again(ray_cluster, tmp_path, monkeypatch):
    """No model is needed: the workers die before they would ask the teacher endpoint."""
    from depo_ray.cluster import ActorsKeepDying
    from depo_ray.env_setup import EnvConfig
    from depo_ray.search import generate
    from depo_ray.search.config import GenerateConfig
    from depo_ray.serving.openai_client import EndpointConfig

    class Dying(DyingWorker):  # defined here, so Ray ships it to the workers with its log
        log = str(tmp_path / "taken.txt")

    monkeypatch.setattr(generate, "MCTSWorker", Dying)
    config = GenerateConfig(task_ids=(5,), workers=1, cpus_per_worker=0, max_worker_restarts=2,
                            teacher=EndpointConfig(base_url="http://127.0.0.1:9/v1", model="unused"))
    with pytest.raises(ActorsKeepDying, match="mcts-worker actors died 3 times"):
        generate.run_generation(config, "unused", EnvConfig(), tmp_path / "shards", progress=False)
    taken = [line.split() for line in Path(Dying.log).read_text().splitlines()]
    # each death put the task back, and the next worker (a new name each) took it
    assert [task for _, task in taken] == ["5"] * 3 and len({name for name, _ in taken}) == 3
    assert not list((tmp_path / "shards").glob("*.parquet"))
