"""The chaos benchmark's fault schedule (no Ray): each fault lands in a stage where its kind
of process runs, at a moment counted from that stage's start in the attacked run."""

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

spec = importlib.util.spec_from_file_location("chaos", Path(__file__).resolve().parents[1] / "benchmarks" / "chaos.py")
chaos = sys.modules["chaos"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
spec.loader.exec_module(chaos)

WINDOWS = {"generate": (0, 100), "label": (100, 101), "bc": (101, 300), "kto": (300, 420), "depo": (420, 540),
           "evaluate": (540, 900)}


def test_each_fault_falls_in_a_stage_of_its_kind_within_that_stages_reference_time():
    for seed in range(20):
        faults = chaos.fault_schedule(seed, 5, WINDOWS)
        assert sorted(f.kind for f in faults) == sorted(chaos.TARGETS)
        for fault in faults:
            assert fault.stage in chaos.STAGES_OF[fault.kind]
            start, end = WINDOWS[fault.stage]
            assert 0 <= fault.after_s <= 0.9 * (end - start)
    assert chaos.fault_schedule(3, 5, WINDOWS) == chaos.fault_schedule(3, 5, WINDOWS)
    assert len({tuple(chaos.fault_schedule(seed, 5, WINDOWS)) for seed in range(5)}) == 5


def test_a_fault_is_due_only_in_its_stage_once_its_moment_there_has_come(tmp_path):
    fault = chaos.Fault("kto", 30.0, "train_worker")
    assert chaos.running_stage(tmp_path) is None
    (tmp_path / "bc.json").write_text(json.dumps({}))
    (tmp_path / "kto.started.json").write_text(json.dumps({}))
    os.utime(tmp_path / "kto.started.json", (time.time() - 10, time.time() - 10))
    stage = chaos.running_stage(tmp_path)
    assert stage[0] == "kto" and 9 < stage[1] < 60
    assert chaos.due([fault], stage) == []
    os.utime(tmp_path / "kto.started.json", (time.time() - 31, time.time() - 31))
    assert chaos.due([fault], chaos.running_stage(tmp_path)) == [fault]
    (tmp_path / "kto.json").write_text(json.dumps({}))  # kto ended: nothing runs now
    assert chaos.running_stage(tmp_path) is None
