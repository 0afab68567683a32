"""The fixed cost of a short Ray Train stage on CPU, for the two settings that changed it,
each against its alternative in the same run:

- Ray Train's worker health-check interval: Ray's default 2 s against the project's 0.25 s
  (``depo_ray.train.run.HEALTH_CHECK_INTERVAL_S``): one BC run of the tiny policy (one epoch),
  its ``fit`` and its whole ``run_bc`` timed;
- reading a preference stage's scored batches back in their packed order: Ray Data's
  ``Dataset.sort`` against sorting inside one block (``depo_ray.train.run._in_batch_order``);
  both must give the same rows.

The data is the DEPO-vs-TRL benchmark's (``depo_vs_trl_kto.prepare``: 24 labeled expert
trajectories) for the tests' tiny policy (128 wide, 2 layers). The settings alternate,
``--repeats`` times each, so a slow minute of the machine falls on both.

    .venv/bin/python benchmarks/train_start.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depo_ray.train.run import HEALTH_CHECK_ENV  # noqa: E402 (after the path is set)

SAMPLES = 24
"""Labeled expert trajectories (D and U) the runs train and score on."""


def timed_bc(policy: str, data: Path, output: Path, interval: str) -> dict:
    """One BC run (on D, the desirable trajectories of ``data``) with the controller's health
    check every ``interval`` seconds: its fit and its whole run timed."""
    from depo_ray.losses.config import LossConfig
    from depo_ray.train import run
    from depo_ray.train.config import TrainConfig

    config = TrainConfig(loss=LossConfig(name="sft"), lora=None, learning_rate=1e-3, epochs=1, global_batch_size=4,
                         micro_batch_size=4, num_workers=2, checkpoint_every=100)
    os.environ[HEALTH_CHECK_ENV] = interval
    fit, fitted = run._fit, {}

    def timed_fit(*args, **kwargs):
        began = time.perf_counter()
        result = fit(*args, **kwargs)
        fitted["fit_s"] = time.perf_counter() - began
        return result

    run._fit = timed_fit
    try:
        began = time.perf_counter()
        run.run_bc(config, policy, output, [str(data)])
        return {**fitted, "run_bc_s": time.perf_counter() - began}
    finally:
        run._fit = fit


def timed_read(folder: Path, how: str):
    import ray.data

    from depo_ray.train.run import BATCH_INDEX, _in_batch_order

    began = time.perf_counter()
    if how == "sort":
        data = ray.data.read_parquet(str(folder), file_extensions=["parquet"]).sort(BATCH_INDEX).drop_columns(
            [BATCH_INDEX]).materialize()
    else:
        data = _in_batch_order(folder)
    seconds = time.perf_counter() - began
    return seconds, [row["input_ids"].tolist() if hasattr(row["input_ids"], "tolist") else row["input_ids"]
                     for row in data.iter_rows()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ray

    from depo_ray.cluster import connect
    from depo_ray.losses.config import LossConfig
    from depo_ray.train.config import TrainConfig
    from depo_ray.train.run import scored_preference_data
    from benchmarks.depo_vs_trl_kto import prepare
    from benchmarks.engine_start import tiny_policy

    work = Path(tempfile.mkdtemp(prefix="train-start-"))
    policy = prepare(work, SAMPLES, str(tiny_policy(work)))
    data = work / "data.parquet"
    connect(num_cpus=2, fresh=True)
    timed_bc(policy, data, work / "bc-warm-up", "0.25")  # the driver's first export imports transformers
    runs: dict[str, list[dict]] = {"2.0": [], "0.25": []}
    for repeat in range(args.repeats):
        for interval in runs:
            runs[interval].append(timed_bc(policy, data, work / f"bc-{interval}-{repeat}", interval))
            print(f"health check {interval} s, repeat {repeat}: {runs[interval][-1]}", flush=True)

    scored = work / "scored"
    scored_preference_data(TrainConfig(loss=LossConfig(name="kto"), global_batch_size=4, num_workers=1),
                           policy, [str(data)], scored)
    reads: dict[str, list[float]] = {"sort": [], "one_block": []}
    rows = {}
    for repeat in range(args.repeats):
        for how in reads:
            seconds, rows[how] = timed_read(scored, how)
            reads[how].append(seconds)
    assert rows["sort"] == rows["one_block"] and len(rows["sort"]) > 1, "the two reads gave different batches"
    ray.shutdown()

    median = lambda values: round(statistics.median(values), 2)  # noqa: E731
    result = {
        "health_check": {interval: {key: median([r[key] for r in rs]) for key in ("fit_s", "run_bc_s")}
                         for interval, rs in runs.items()},
        "scored_read_s": {how: median(seconds) for how, seconds in reads.items()},
        "batches": len(rows["sort"]), "repeats": args.repeats, "load_average": os.getloadavg(),
    }
    result["fit_ratio"] = round(result["health_check"]["0.25"]["fit_s"] / result["health_check"]["2.0"]["fit_s"], 3)
    result["read_ratio"] = round(result["scored_read_s"]["one_block"] / result["scored_read_s"]["sort"], 3)
    print("train-start result: " + json.dumps(result))


if __name__ == "__main__":
    main()
