"""Processes Ray marks dead must end: an actor whose interpreter teardown hangs is ended."""

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
def test_an_actor_process_that_outlives_its_actor_is_ended_and_a_live_one_is_not():
    import ray

    from depo_ray.cluster import actor_ids, connect, end_outlived_actors

    connect(num_cpus=1, fresh=True)
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
        ray.shutdown()

