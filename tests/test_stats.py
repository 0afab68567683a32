"""The paired bootstrap of depo_ray.evaluate.stats on hand-made outcomes."""

import numpy as np
import pytest

from depo_ray.evaluate import TaskResult, summarize
from depo_ray.evaluate.stats import paired_bootstrap


def outcomes(success, tokens, turns, task_ids=None) -> list[TaskResult]:
    """One seed's task results from per-task columns."""
    task_ids = range(len(tokens)) if task_ids is None else task_ids
    return [TaskResult(task_id=int(i), success=bool(s), reward=float(s), turns=int(n), generated_tokens=int(t),
                       invalid_actions=0, model_seconds=1.0, seconds=1.0)
            for i, s, t, n in zip(task_ids, success, tokens, turns)]


def random_method(rng, tasks=60):
    success = rng.random(tasks) < 0.5
    turns = rng.integers(1, 12, tasks)
    return success, turns * rng.integers(20, 40, tasks), turns


def test_identical_methods_differ_by_nothing():
    rng = np.random.default_rng(1)
    a = {seed: outcomes(*random_method(rng)) for seed in (0, 1, 2)}
    comparison = paired_bootstrap(a, a, "KTO", "DEPO", resamples=500)
    assert comparison.seeds == (0, 1, 2) and comparison.tasks == 60
    for difference in comparison.differences.values():
        assert (difference.estimate, difference.low, difference.high) == (0.0, 0.0, 0.0)
        assert difference.verdict == "within noise" and difference.skipped == 0


@pytest.mark.parametrize("factor, verdict", [(0.8, "better"), (1.25, "worse")])
def test_a_clear_shift_in_tokens_and_turns_gets_the_verdict_of_its_direction(factor, verdict):
    rng = np.random.default_rng(2)
    success, tokens, turns = random_method(rng)
    a = {0: outcomes(success, tokens, turns)}
    b = {0: outcomes(success, np.round(tokens * factor), np.round(turns * factor))}
    differences = paired_bootstrap(a, b).differences
    for key in ("t_all", "s_all", "t_succ", "s_succ"):
        assert differences[key].verdict == verdict, key
        assert differences[key].low <= differences[key].estimate <= differences[key].high
    assert differences["succ"].verdict == "within noise"


def test_more_successes_are_better_and_fewer_are_worse():
    rng = np.random.default_rng(3)
    success, tokens, turns = random_method(rng, tasks=80)
    more = success | (rng.random(80) < 0.6)  # every task A solves, and more
    a, b = {0: outcomes(success, tokens, turns)}, {0: outcomes(more, tokens, turns)}
    assert paired_bootstrap(a, b).differences["succ"].verdict == "better"
    assert paired_bootstrap(b, a).differences["succ"].verdict == "worse"
    assert paired_bootstrap(a, b).differences["succ"].estimate == pytest.approx(more.mean() - success.mean())


def test_pairing_finds_a_small_shift_that_task_to_task_spread_would_hide():
    """B saves 10 tokens on every task, while tasks range from 50 to 1000 tokens. Paired by
    task the saving is clear; the same outcomes with B's results moved to other tasks (as if
    unpaired: same values, same mean difference) are within noise."""
    rng = np.random.default_rng(4)
    tasks = 90
    tokens = rng.integers(50, 1000, tasks)
    turns, success = np.full(tasks, 5), np.ones(tasks, dtype=bool)
    saving = 10 + rng.integers(-2, 3, tasks)
    a = {0: outcomes(success, tokens, turns)}
    paired = paired_bootstrap(a, {0: outcomes(success, tokens - saving, turns)}).differences["t_all"]
    shuffled = paired_bootstrap(a, {0: outcomes(success, tokens - saving, turns, task_ids=rng.permutation(tasks))})
    assert paired.verdict == "better" and paired.high < 0
    assert shuffled.differences["t_all"].estimate == pytest.approx(paired.estimate)
    assert shuffled.differences["t_all"].verdict == "within noise"


def test_seeds_are_resampled_so_a_shift_that_flips_between_seeds_is_noise():
    """B's saving depends on the seed (−20, −15, +20 tokens): with three seeds that is no
    reliable saving. The same cells read as one seed's 300 tasks would call it one."""
    rng = np.random.default_rng(5)
    tasks = 100
    tokens = rng.integers(100, 300, tasks)
    turns, success = np.full(tasks, 5), np.ones(tasks, dtype=bool)
    a, b = {}, {}
    for seed, shift in zip((0, 1, 2), (-20, -15, 20)):
        a[seed] = outcomes(success, tokens, turns)
        b[seed] = outcomes(success, tokens + shift + rng.integers(-3, 4, tasks), turns)
    by_seed = paired_bootstrap(a, b).differences["t_all"]
    assert by_seed.verdict == "within noise" and by_seed.low < -10 and by_seed.high > 10
    pooled = lambda method: {0: [r for seed in (0, 1, 2) for r in outcomes(  # noqa: E731
        [x.success for x in method[seed]], [x.generated_tokens for x in method[seed]], [x.turns for x in method[seed]],
        task_ids=range(seed * tasks, (seed + 1) * tasks))]}
    as_one_seed = paired_bootstrap(pooled(a), pooled(b)).differences["t_all"]
    assert as_one_seed.estimate == pytest.approx(by_seed.estimate)
    assert as_one_seed.verdict == "better"


def test_over_solved_metrics_match_summarize_and_skip_resamples_without_a_success():
    a = {0: outcomes([True] * 5, [10, 20, 30, 40, 50], [1, 2, 3, 4, 5]),
         1: outcomes([True, False, True, True, True], [12, 90, 30, 40, 50], [1, 9, 3, 4, 5])}
    b = {0: outcomes([False, False, True, False, False], [60, 70, 15, 80, 90], [6, 7, 1, 8, 9]),
         1: outcomes([False] * 5, [60, 70, 80, 80, 90], [6, 7, 8, 8, 9])}
    comparison = paired_bootstrap(a, b, resamples=2000)
    pooled = lambda method: summarize([r for results in method.values() for r in results])  # noqa: E731
    for key in ("succ", "t_all", "s_all", "t_succ", "s_succ"):
        assert comparison.differences[key].estimate == pytest.approx(pooled(b)[key] - pooled(a)[key]), key
    t_succ = comparison.differences["t_succ"]
    # B's only success is seed 0, task 2: a resample without seed 0 or without task 2 has none
    no_success = 1 - (1 - 0.5**2) * (1 - 0.8**5)
    assert t_succ.skipped == pytest.approx(2000 * no_success, rel=0.1)
    assert comparison.differences["s_succ"].skipped == t_succ.skipped and comparison.differences["t_all"].skipped == 0
    never = paired_bootstrap(a, {0: b[1], 1: b[1]}).differences["t_succ"]
    assert (never.estimate, never.low, never.high, never.verdict, never.skipped) == (None, None, None, "undefined", 2000)


def test_the_interval_repeats_with_its_rng_seed_and_narrows_with_confidence():
    rng = np.random.default_rng(6)
    a, b = {0: outcomes(*random_method(rng))}, {0: outcomes(*random_method(rng))}
    first, again = paired_bootstrap(a, b, rng_seed=7), paired_bootstrap(a, b, rng_seed=7)
    assert first == again
    narrow = paired_bootstrap(a, b, rng_seed=7, confidence=0.5).differences["t_all"]
    assert first.differences["t_all"].low < narrow.low < narrow.high < first.differences["t_all"].high


def test_unpaired_outcomes_are_refused():
    one = outcomes([True, False], [10, 20], [1, 2])
    with pytest.raises(ValueError, match="different seeds"):
        paired_bootstrap({0: one}, {1: one})
    with pytest.raises(ValueError, match="different tasks"):
        paired_bootstrap({0: one}, {0: outcomes([True, False], [10, 20], [1, 2], task_ids=[0, 5])})
    with pytest.raises(ValueError, match="seed 1 played other tasks"):
        paired_bootstrap({0: one, 1: one[:1]}, {0: one, 1: one[:1]})
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap({0: one}, {0: one}, resamples=0)


def test_a_per_item_difference_agrees_with_the_task_bootstrap_and_sees_a_shift():
    from depo_ray.evaluate.stats import paired_mean_difference

    rng = np.random.default_rng(3)
    a = rng.random((3, 200))
    shifted = paired_mean_difference(a, a + 0.1, "x", higher_is_better=True)
    assert shifted.estimate == pytest.approx(0.1) and shifted.verdict == "better"
    assert shifted.low == pytest.approx(0.1) and shifted.high == pytest.approx(0.1)  # every pair moved alike
    noise = paired_mean_difference(a, a + rng.normal(0, 0.3, a.shape), "x", higher_is_better=True)
    assert noise.low < 0 < noise.high and noise.verdict == "within noise"
    assert paired_mean_difference(a, a - 0.1, "x", higher_is_better=False).verdict == "better"
    with pytest.raises(ValueError, match="x: need two"):
        paired_mean_difference(a, a[:, :5], "x", higher_is_better=True)


def test_comparing_two_evaluation_folders_matches_tasks_by_id_whatever_their_order():
    from dataclasses import replace

    from depo_ray.evaluate.compare import math_differences, task_differences

    rng = np.random.default_rng(3)
    success, tokens, turns = random_method(rng, tasks=30)
    base = outcomes(success, tokens, turns)
    halved = [replace(r, generated_tokens=r.generated_tokens // 2, invalid_actions=r.turns) for r in base]
    differences = {d.metric: d for d in task_differences({0: base}, {0: halved[::-1]})}
    assert differences["succ"].estimate == 0 and differences["s_all"].estimate == 0
    # the evaluation summaries' own tokens_per_turn and invalid_action_rate, B − A
    for metric in ("tokens_per_turn", "invalid_action_rate"):
        assert differences[metric].estimate == pytest.approx(summarize(halved)[metric] - summarize(base)[metric])
    assert differences["tokens_per_turn"].verdict == "better" and differences["t_all"].verdict == "better"
    assert differences["invalid_action_rate"].estimate == 1.0 and differences["invalid_action_rate"].verdict == "worse"
    with pytest.raises(ValueError, match="task sets differ"):
        task_differences({0: base}, {0: halved[1:]})
    with pytest.raises(ValueError, match="task sets differ: seeds"):
        task_differences({0: base}, {1: halved})

    rows = [{"id": f"p{i}", "correct": i % 2 == 0, "generated_tokens": 100} for i in range(10)]
    all_right = [{**r, "correct": True, "generated_tokens": 80} for r in reversed(rows)]
    accuracy, math_tokens = math_differences({0: rows}, {0: all_right})
    assert accuracy.estimate == pytest.approx(0.5) and accuracy.verdict == "better"
    assert math_tokens.estimate == pytest.approx(-20) and math_tokens.low == math_tokens.high == pytest.approx(-20)


def test_an_outcomes_file_gives_back_the_intervals_of_the_evaluations_it_was_written_from(tmp_path, capsys):
    import sys
    from dataclasses import replace
    from pathlib import Path

    from depo_ray.evaluate.compare import describe, task_differences
    from depo_ray.evaluate.outcomes import OUTCOME_COLUMNS, EvaluatedPolicy, read_outcomes, write_outcomes

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
    from compare import main as compare

    rng = np.random.default_rng(5)
    kto = {seed: outcomes(*random_method(rng, tasks=20)) for seed in (0, 1, 2)}
    depo = {seed: [replace(r, generated_tokens=r.generated_tokens - seed - 1) for r in reversed(results)]
            for seed, results in kto.items()}
    policies = [EvaluatedPolicy(m, seed, tuple(rows)) for m, runs in (("kto", kto), ("depo", depo))
                for seed, rows in runs.items()]
    path = write_outcomes(policies, tmp_path / "outcomes.csv")
    assert path.read_text().splitlines()[0] == ",".join(OUTCOME_COLUMNS)
    assert len(path.read_text().splitlines()) == 1 + 2 * 3 * 20
    back = {(p.method, p.seed): p.results for p in read_outcomes(path)}
    assert [r.task_id for r in back[("depo", 1)]] == sorted(r.task_id for r in depo[1])
    assert [r.generated_tokens for r in back[("kto", 2)]] == [r.generated_tokens for r in kto[2]]

    compare(["--outcomes", str(path), "kto", "depo", "--resamples", "300"])
    printed = capsys.readouterr().out
    for difference in task_differences(kto, depo, resamples=300):
        assert describe(difference) in printed
    assert "t_all: -2.000 [" in printed  # seeds 0, 1, 2 take 1, 2, 3 tokens off every task
    with pytest.raises(SystemExit, match="not in it: \\['bc'\\]"):
        compare(["--outcomes", str(path), "kto", "bc"])
    with pytest.raises(ValueError, match="appears twice"):
        write_outcomes(policies + policies[:1], tmp_path / "twice.csv")
    from depo_ray.evaluate.episodes import _write_results

    _write_results(kto[1], tmp_path / "kto-1" / "tasks.parquet")  # one evaluation folder: its outcomes alone
    compare([f"kto@1={tmp_path / 'kto-1'}", "--write-outcomes", str(tmp_path / "one.csv")])
    (one,) = read_outcomes(tmp_path / "one.csv")
    in_order = sorted(kto[1], key=lambda r: r.task_id)
    assert (one.method, one.seed, [r.success for r in one.results]) == ("kto", 1, [r.success for r in in_order])
    import pyarrow.parquet as pq

    (tmp_path / "kto-2").mkdir()  # an evaluation folder that lost a column the comparison reads
    pq.write_table(pq.read_table(tmp_path / "kto-1" / "tasks.parquet").drop_columns(["turns"]), tmp_path / "kto-2" / "tasks.parquet")
    with pytest.raises(SystemExit, match=r"kto-2/tasks.parquet: per-task results missing columns \['turns'\]"):
        compare([f"kto@1={tmp_path / 'kto-1'}", f"depo@1={tmp_path / 'kto-2'}"])
    (tmp_path / "other.csv").write_text("method,seed\nkto,0\n")
    with pytest.raises(ValueError, match="other.csv: not an outcomes file"):
        read_outcomes(tmp_path / "other.csv")


def test_math_problems_pair_by_seed_and_their_outcomes_file_gives_back_the_same_intervals(tmp_path, capsys):
    import sys
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from depo_ray.evaluate.compare import describe, math_differences
    from depo_ray.evaluate.outcomes import MATH_OUTCOME_COLUMNS, read_math_outcomes

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
    from compare import main as compare

    rng = np.random.default_rng(7)
    ids = [f"gen-{i}" for i in range(15)]
    bc = {seed: [{"id": i, "predicted": "1", "correct": bool(rng.random() < 0.3), "generated_tokens": int(rng.integers(50, 150))}
                 for i in ids] for seed in (0, 1, 2)}
    # seed s of KTO writes 10·(s+1) fewer tokens on every problem, and its own rows come in another order
    kto = {seed: [{**r, "generated_tokens": r["generated_tokens"] - 10 * (seed + 1)} for r in reversed(rows)]
           for seed, rows in bc.items()}
    for method, runs in (("bc", bc), ("kto", kto)):
        for seed, rows in runs.items():
            (tmp_path / f"{method}-{seed}").mkdir()
            pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"{method}-{seed}" / "problems.parquet")
    folders = [f"{m}@{s}={tmp_path / f'{m}-{s}'}" for m in ("bc", "kto") for s in (0, 1, 2)]
    written = tmp_path / "math_outcomes.csv"
    compare(["--math", *folders, "--write-math-outcomes", str(written), "--resamples", "300"])
    from_folders = capsys.readouterr().out
    assert written.read_text().splitlines()[0] == ",".join(MATH_OUTCOME_COLUMNS)
    assert len(written.read_text().splitlines()) == 1 + 2 * 3 * 15
    back = read_math_outcomes(written)
    assert sorted(back) == [("bc", 0), ("bc", 1), ("bc", 2), ("kto", 0), ("kto", 1), ("kto", 2)]
    expected = math_differences(bc, kto, resamples=300)
    assert expected[1].estimate == pytest.approx(-20) and expected[0].estimate == 0  # seeds 0-2: -10, -20, -30
    for difference in expected:
        assert describe(difference) in from_folders
    compare(["--math-outcomes", str(written), "bc", "kto", "--resamples", "300"])
    assert capsys.readouterr().out.splitlines() == [line for line in from_folders.splitlines() if "outcomes:" not in line]
    with pytest.raises(ValueError, match="seeds"):
        math_differences(bc, {0: kto[0]})
    with pytest.raises(SystemExit, match="not in it: \\['dpo'\\]"):
        compare(["--math-outcomes", str(written), "bc", "dpo"])
