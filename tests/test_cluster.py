"""Ray actors and their processes: one whose teardown hangs is ended after Ray marks it dead; a dead one's work is played again."""

import os
import time

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
    remembers the death across replacements), and it raises on negative numbers."""

    def __init__(self, folder: str, fatal: int):
        self.marker, self.fatal = os.path.join(folder, "died"), fatal

    def square(self, x: int) -> int:
        if x == self.fatal and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        if x < 0:
            raise ValueError(f"negative: {x}")
        return x * x


def test_work_is_handed_out_in_order_in_batches_of_the_given_size():
    from depo_ray.cluster import in_batches

    assert in_batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert in_batches([1, 2], 16) == [[1, 2]] and in_batches([], 4) == []


@pytest.mark.ray
def test_a_dead_actors_item_is_played_again_on_a_new_actor_and_a_failing_call_is_not(ray_cluster, tmp_path):
    import ray

    from depo_ray.cluster import map_on_replaceable_actors

    made = []
    actor = ray.remote(num_cpus=0)(Fragile)

    def make():
        made.append(actor.remote(str(tmp_path), 3))
        return made[-1]

    square = lambda a, x: a.square.remote(x)  # noqa: E731
    try:
        results = list(map_on_replaceable_actors(make, square, list(range(8)), workers=2))
        assert sorted(results) == [x * x for x in range(8)] and (tmp_path / "died").exists()
        with pytest.raises(ray.exceptions.RayTaskError, match="negative"):
            list(map_on_replaceable_actors(make, square, [1, -2, 4], workers=2))
        (tmp_path / "died").unlink()
        with pytest.raises(ray.exceptions.RayActorError):
            list(map_on_replaceable_actors(make, square, [3], workers=1, max_replacements=0))
    finally:
        for handle in made:  # the session's cluster outlives this test
            ray.kill(handle)
