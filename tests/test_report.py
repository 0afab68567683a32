"""The pipeline report's paired differences and claims, on hand-made evaluations (no Ray)."""

import json
from dataclasses import asdict, replace

import numpy as np
import pytest

from depo_ray.evaluate import TaskResult, summarize
from depo_ray.pipeline.config import PipelineConfig
from depo_ray.pipeline.report import claim_line, comparisons, depo_claims, paired_table, write_report
from depo_ray.pipeline.stage import RunFolder

TASKS = 40


def evaluation(rng, tokens_per_task, success_rate, seed_shift=0.0) -> list[TaskResult]:
    """One seed's results: each task's tokens around its own base (tasks differ a lot)."""
    turns = np.maximum(1, np.round(tokens_per_task / 30)).astype(int)
    tokens = np.round(tokens_per_task + seed_shift + rng.normal(0, 2, TASKS)).astype(int)
    success = rng.random(TASKS) < success_rate
    return [TaskResult(task_id=i, success=bool(s), reward=float(s), turns=int(n), generated_tokens=int(t),
                       invalid_actions=0, model_seconds=0.5, seconds=1.0)
            for i, (s, t, n) in enumerate(zip(success, tokens, turns))]


@pytest.fixture(scope="module")
def results():
    """BC long; KTO shorter; DEPO KTO's outcomes with 12 tokens fewer or 11 more per task,
    alternately: half a token fewer on average, well within the task-to-task spread."""
    rng = np.random.default_rng(0)
    base = rng.integers(60, 600, TASKS).astype(float)
    kto = {seed: evaluation(rng, base, 0.5) for seed in (0, 1)}
    depo = {seed: [replace(r, generated_tokens=r.generated_tokens + (-12 if r.task_id % 2 else 11)) for r in outcomes]
            for seed, outcomes in kto.items()}
    return {"bc": {seed: evaluation(rng, base * 1.3, 0.5) for seed in (0, 1)}, "kto": kto, "depo": depo}


def test_each_method_is_compared_with_every_earlier_one_the_last_method_first(results):
    paired = comparisons(results, resamples=200)
    assert [(c.method, c.baseline) for c in paired] == [("depo", "kto"), ("depo", "bc"), ("kto", "bc")]
    four = comparisons({**results, "ppo": results["kto"]}, resamples=50)
    assert [(c.method, c.baseline) for c in four][:3] == [("ppo", "depo"), ("ppo", "kto"), ("ppo", "bc")]
    assert len(four) == 6


def test_claims_follow_the_intervals_not_the_sign_of_the_difference(results):
    paired = comparisons(results)
    claims = {claim.text: claim for claim in depo_claims(paired)}
    lower_than_kto = claims["T@All lower than KTO"]
    assert lower_than_kto.difference.estimate == pytest.approx(-0.5)  # the sign alone would call it lower
    assert lower_than_kto.difference.verdict == "within noise" and not lower_than_kto.holds
    assert claim_line(lower_than_kto).startswith("- T@All lower than KTO: **within noise**, not shown (DEPO − KTO: -")
    assert claims["T@All lower than BC"].holds and claims["T@All lower than BC"].difference.verdict == "better"
    # success is within noise of BC's: "no lower" holds
    assert claims["Succ no lower than BC"].difference.verdict == "within noise" and claims["Succ no lower than BC"].holds
    assert "holds" in claim_line(claims["T@All lower than BC"])


def test_the_paired_table_gives_every_difference_with_its_interval_and_verdict(results):
    table = paired_table(comparisons(results, resamples=300)).splitlines()
    assert table[0] == "| B − A | Succ | T@All | S@All | T@Succ | S@Succ |"
    depo_bc = next(line for line in table if line.startswith("| DEPO − BC |"))
    t_all = depo_bc.split(" | ")[2]
    assert t_all.endswith(" better") and t_all.startswith("-") and "[" in t_all
    assert next(line for line in table if line.startswith("| DEPO − KTO |")).count("within noise") >= 2


def test_the_report_of_a_finished_run(tmp_path, results):
    run = RunFolder(tmp_path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    for method, by_seed in results.items():
        for seed, outcomes in by_seed.items():
            folder = run.evaluation(method, seed)
            folder.mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist([asdict(r) for r in outcomes]), folder / "tasks.parquet")
            (folder / "summary.json").write_text(json.dumps(summarize(outcomes)))
    (tmp_path / "labeled").mkdir()
    (tmp_path / "labeled" / "summary.txt").write_text("D 10 / U 5")
    text = write_report(PipelineConfig(run_dir=str(tmp_path), seeds=(0, 1)), run, {"evaluate": 12.0}).read_text()
    for row in ("| DEPO − KTO |", "| DEPO − BC |", "| KTO − BC |", "- T@All lower than KTO: **within noise**, not shown",
                "| evaluate | 12 |"):
        assert row in text
    assert "DEPO-W" not in text  # an optional method without its section is not reported
    assert (tmp_path / "plots" / "paired_differences.png").stat().st_size > 1000
    assert "plots/paired_differences.png" in text
    assert "starting policy the CPU default's tiny model" in text
    pretrained = PipelineConfig(run_dir=str(tmp_path), seeds=(0, 1), policy="smollm2-135m-instruct")
    assert "starting policy `smollm2-135m-instruct`." in write_report(pretrained, run, {}).read_text()


def test_a_vs_row_is_the_paired_estimate_relative_to_the_baseline_not_a_ratio_of_medians(results):
    """Issue: "DEPO vs BC T@All −4.9%" (per-column medians) once stood beside a pooled DEPO − BC
    of +15.3 [−52.3, +104.1]. Here seed 1 of BC is made far shorter, so the median of BC's
    T@All and its pooled value disagree; the row must follow the pooled one."""
    from depo_ray.evaluate import median_summary
    from depo_ray.pipeline.config import Method
    from depo_ray.pipeline.report import pooled_summaries, results_table

    # three seeds (seed 2 repeats seed 0), so that a median is not the mean of two
    skewed = {m: {**runs, 2: runs[0]} for m, runs in results.items()}
    skewed["bc"][1] = [replace(r, generated_tokens=r.generated_tokens // 4) for r in results["bc"][1]]
    medians = {m: median_summary([summarize(rows) for rows in runs.values()]) for m, runs in skewed.items()}
    pooled = pooled_summaries(skewed)
    depo_bc = next(c for c in comparisons(skewed, resamples=100) if (c.method, c.baseline) == ("depo", "bc"))
    expected = depo_bc.differences["t_all"].estimate / pooled["bc"]["t_all"]
    assert pooled["depo"]["t_all"] - pooled["bc"]["t_all"] == pytest.approx(depo_bc.differences["t_all"].estimate)
    methods = (Method("bc", "BC", ("sft",)), Method("kto", "KTO", ("kto",)), Method("depo", "DEPO", ("depo",), efficiency=True))
    row = next(line for line in results_table(medians, pooled, methods).splitlines() if line.startswith("| DEPO vs BC |"))
    assert row.split(" | ")[3] == f"{expected:+.1%}"
    from_medians = medians["depo"]["t_all"] / medians["bc"]["t_all"] - 1
    assert f"{from_medians:+.1%}" != f"{expected:+.1%}"
