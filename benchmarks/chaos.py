"""Chaos run: the CPU pipeline on a reduced task set while processes are killed by pid at
random moments (a PolicyServer replica, an MCTS worker, an evaluator, a Ray Train worker, the
job's driver), the command run again after every exit that is not a success, as a user would.
Each survived run is compared with an uninterrupted run of the same config
(``depo_ray.pipeline.audit``): stage markers, each searched task once, labeled rows, each
training step once, evaluation rows for every task.

    .venv/bin/python benchmarks/chaos.py --schedules 5 --output runs/chaos
    .venv/bin/python benchmarks/chaos.py --seeds 3 --output runs/chaos   # replay schedule 3

Each fault fires at a seeded moment of a stage during which its kind of process runs, counted
from that stage's start in the attacked run, so runs slower or faster than the reference
still meet it. The reference run goes first (``<output>/reference``); each schedule runs in
``<output>/schedule-<seed>`` from a copy of the reference's bootstrap (the bootstrap is
never attacked: it is the same for every run). Every run gets a private Ray cluster (its own
temp folder) and a marker in its environment, so only its own processes are ever killed.
``<output>/chaos.md`` has the table; each schedule's faults and log are in its folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.pipeline.audit import run_problems_against  # noqa: E402
from depo_ray.processes import kill, marked  # noqa: E402

MARKER = "DEPO_RAY_CHAOS_RUN"
TARGETS = {"policy_server": "ray::PolicyServer", "mcts_worker": "ray::MCTSWorker", "evaluator": "ray::Evaluator",
           "train_worker": "ray::RayTrainWorker", "driver": None}
"""Fault kinds and the process title each kills (the driver is the job's own process)."""
REDUCED = ["generate.tasks=[0,8]", "bc.epochs=2", "kto.epochs=1", "depo.epochs=1", "evaluate.task_ids={evaluate}"]
"""The CPU default made small enough to run six times: 8 searched tasks, short training, 24
evaluation tasks (the first of the harness's test tasks)."""


@dataclass(frozen=True)
class Fault:
    stage: str
    """The stage during which it fires."""
    after_s: float
    """Seconds into that stage's current start: a seeded share of the stage's time in the
    reference, so a run faster or slower than the reference still meets it in that stage."""
    kind: str
    """A key of TARGETS."""


@dataclass
class Outcome:
    at_s: float
    """Seconds after the run started."""
    kind: str
    result: str
    """killed pid N, or why nothing was killed."""
    stage: str = ""


STAGES_OF = {"policy_server": ("generate", "evaluate"), "mcts_worker": ("generate",), "evaluator": ("evaluate",),
             "train_worker": ("bc", "kto", "depo"), "driver": ("generate", "label", "bc", "kto", "depo", "evaluate")}
"""The stages during which each kind of process exists."""


def stage_windows(run: Path, order: list[str]) -> dict[str, tuple[float, float]]:
    """(start, end) seconds of each stage after the bootstrap, from a finished run's markers."""
    windows, clock = {}, 0.0
    for name in order:
        marker = run / "stages" / f"{name}.json"
        if name != "bootstrap" and marker.exists():
            seconds = json.loads(marker.read_text())["seconds"]
            windows[name] = (clock, clock + seconds)
            clock += seconds
    return windows


def fault_schedule(seed: int, count: int, windows: dict[str, tuple[float, float]]) -> list[Fault]:
    """``count`` faults, each kind at least once when ``count`` allows, each in a stage during
    which its kind of process runs (drawn by the stage's time in the reference), at a seeded
    moment within the first 90% of that time."""
    rng = random.Random(seed)
    kinds = list(TARGETS) * (count // len(TARGETS)) + rng.sample(list(TARGETS), count % len(TARGETS))
    order = list(windows)
    faults = []
    for kind in kinds:
        stages = [s for s in STAGES_OF[kind] if s in windows]
        stage = rng.choices(stages, weights=[windows[s][1] - windows[s][0] for s in stages])[0]
        faults.append(Fault(stage, round(rng.uniform(0, 0.9) * (windows[stage][1] - windows[stage][0]), 1), kind))
    return sorted(faults, key=lambda f: (order.index(f.stage), f.after_s))


def running_stage(stages: Path) -> tuple[str, float] | None:
    """The stage a run is in (its start marker is there, its end marker not yet) and the
    seconds since that start."""
    for started in stages.glob("*.started.json"):
        name = started.name.removesuffix(".started.json")
        if not (stages / f"{name}.json").exists():
            try:
                return name, time.time() - started.stat().st_mtime
            except FileNotFoundError:  # finished just now
                return None
    return None


def due(pending: list[Fault], stage: tuple[str, float] | None) -> list[Fault]:
    """The pending faults whose moment has come in the running stage."""
    return [] if stage is None else [f for f in pending if f.stage == stage[0] and f.after_s <= stage[1]]


def target(value: str, kind: str, driver: subprocess.Popen) -> psutil.Process | None:
    if TARGETS[kind] is None:
        try:
            return psutil.Process(driver.pid)
        except psutil.Error:  # it exited just now
            return None
    found = marked(MARKER, value, titles=(TARGETS[kind],))
    return found[0] if found else None


def end_run(value: str) -> None:
    """What a user does after a crashed job: stop what is left of its cluster."""
    kill(marked(MARKER, value), timeout_s=30)


def run_pipeline(folder: Path, config: str, overrides: list[str], faults: list[Fault], max_attempts: int,
                 start_limit_s: float) -> dict:
    """The pipeline in ``folder`` until it succeeds (at most ``max_attempts`` starts, each
    stopped as hung after ``start_limit_s``), with ``faults`` injected; returns the outcomes,
    starts and wall time."""
    value = uuid.uuid4().hex
    command = [sys.executable, str(ROOT / "jobs" / "pipeline.py"), "--config", config,
               *(f"--set={o}" for o in [*overrides, f"run_dir={folder / 'run'}"])]
    pending, outcomes, began, starts = list(faults), [], time.monotonic(), 0
    with (folder / "pipeline.log").open("a") as log:
        while True:
            starts += 1
            temp = tempfile.mkdtemp(prefix="chaos-", dir="/tmp")  # Ray's socket paths stay short
            env = {**os.environ, "RAY_ADDRESS": "local", "RAY_TMPDIR": temp, MARKER: value}
            log.write(f"\n=== start {starts} at {time.monotonic() - began:.0f} s\n")
            log.flush()
            driver = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            started = time.monotonic()
            try:
                watch(driver, value, folder / "run" / "stages", pending, outcomes, began, started + start_limit_s)
            finally:  # also on Ctrl-C: nothing of this run's cluster is left behind
                end_run(value)
                shutil.rmtree(temp, ignore_errors=True)
            if driver.returncode == 0 or starts >= max_attempts:
                break
    outcomes += [Outcome(round(time.monotonic() - began, 1), f.kind,
                         f"its stage ended before {f.after_s:.0f} s into it", f.stage) for f in pending]
    return {"outcomes": [asdict(o) for o in outcomes], "starts": starts, "succeeded": driver.returncode == 0,
            "seconds": round(time.monotonic() - began, 1)}


def watch(driver: subprocess.Popen, value: str, stages: Path, pending: list[Fault], outcomes: list[Outcome],
          began: float, deadline: float) -> None:
    """Inject the due faults until the driver exits (or is stopped as hung at ``deadline``)."""
    while driver.poll() is None:
        if time.monotonic() > deadline:
            outcomes.append(Outcome(round(time.monotonic() - began, 1), "hung", "the start ran past its limit"))
            driver.kill()
            driver.wait()
            return
        now, stage = time.monotonic() - began, running_stage(stages)
        # each due fault hits at its first chance in its stage: when a process of its kind runs
        for fault in due(pending, stage):
            process = target(value, fault.kind, driver)
            if process is None:
                continue
            pending.remove(fault)
            try:
                process.send_signal(signal.SIGKILL)
                outcomes.append(Outcome(round(now, 1), fault.kind, f"killed pid {process.pid}", fault.stage))
            except psutil.Error as error:
                outcomes.append(Outcome(round(now, 1), fault.kind, f"gone before the kill ({error})", fault.stage))
            if fault.kind == "driver":
                break
        time.sleep(0.5)


def evaluation_subset(config: str, count: int) -> list[int]:
    from depo_ray.config import load_yaml
    from depo_ray.env_setup import paths_under
    from depo_ray.evaluate.config import evaluation_tasks
    from depo_ray.pipeline.config import PipelineConfig

    pipeline = load_yaml(PipelineConfig, ROOT / config)
    return evaluation_tasks(pipeline.evaluate, paths_under(pipeline.env, ROOT))[:count]


def table(rows: list[dict]) -> str:
    lines = ["| schedule seed | faults injected | killed | starts | completed | wall s | lost or duplicated |",
             "|---:|---|---:|---:|---|---:|---|"]
    for row in rows:
        kinds = ", ".join(f"{o['kind']}{' in ' + o['stage'] if o.get('stage') else ''} at {o['at_s']:.0f} s"
                          + ("" if o["result"].startswith("killed") else " (missed)") for o in row["outcomes"])
        killed = sum(o["result"].startswith("killed") for o in row["outcomes"])
        problems = "; ".join(row["problems"]) if row["problems"] else "nothing"
        lines.append(f"| {row['seed']} | {kinds} | {killed} | {row['starts']} | {'yes' if row['succeeded'] else 'NO'} | "
                     f"{row['seconds']:.0f} | {problems} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/cpu_pipeline.yaml", help="pipeline config (from the project root)")
    parser.add_argument("--output", default="runs/chaos", help="folder of the reference run and the schedules")
    parser.add_argument("--schedules", type=int, default=5, help="schedules to run (seeds 0..N-1)")
    parser.add_argument("--seeds", type=int, nargs="*", help="these schedule seeds instead (to replay one)")
    parser.add_argument("--faults", type=int, default=5, help="faults per schedule")
    parser.add_argument("--max-starts", type=int, default=12, help="starts of the command per schedule at most")
    parser.add_argument("--evaluate-tasks", type=int, default=24, help="evaluation tasks of the reduced run")
    args = parser.parse_args()
    output = (ROOT / args.output).resolve()
    overrides = [o.format(evaluate=json.dumps(evaluation_subset(args.config, args.evaluate_tasks))) for o in REDUCED]
    reference = output / "reference"
    reference.mkdir(parents=True, exist_ok=True)
    summary = reference / "run.json"
    if not summary.exists():
        print(f"[chaos] reference run -> {reference}", flush=True)
        result = run_pipeline(reference, args.config, overrides, [], max_attempts=1, start_limit_s=4 * 3600)
        if not result["succeeded"]:
            raise SystemExit(f"the reference run failed; see {reference / 'pipeline.log'}")
        summary.write_text(json.dumps(result))
    from depo_ray.pipeline.recipe import STAGES

    windows = stage_windows(reference / "run", [stage.name for stage in STAGES])
    rows = []
    for seed in (args.seeds if args.seeds is not None else range(args.schedules)):
        folder = output / f"schedule-{seed}"
        faults = fault_schedule(seed, args.faults, windows)
        if not (folder / "result.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            (folder / "run" / "stages").mkdir(parents=True)
            shutil.copytree(reference / "run" / "bootstrap", folder / "run" / "bootstrap")
            shutil.copy(reference / "run" / "stages" / "bootstrap.json", folder / "run" / "stages")
            print(f"[chaos] schedule {seed}: {[asdict(f) for f in faults]}", flush=True)
            limit = 3 * json.loads(summary.read_text())["seconds"]
            result = run_pipeline(folder, args.config, overrides, faults, args.max_starts, start_limit_s=limit)
            (folder / "result.json").write_text(json.dumps({"seed": seed, "faults": [asdict(f) for f in faults], **result},
                                                           indent=2))
        row = json.loads((folder / "result.json").read_text())
        # audited each time the table is made, so a re-run applies the current checks
        row["problems"] = run_problems_against(reference / "run", folder / "run") if row["succeeded"] \
            else ["the run did not complete"]
        rows.append(row)
        print(table(rows[-1:]), flush=True)
    spans = ", ".join(f"{name} {a:.0f}–{b:.0f} s" for name, (a, b) in windows.items())
    (output / "chaos.md").write_text(f"Reference run after its bootstrap: {spans}\n\n" + table(rows) + "\n")
    print(f"[chaos] table: {output / 'chaos.md'}")


if __name__ == "__main__":
    main()
