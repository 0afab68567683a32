"""Evaluation metrics on hand-made task results."""

import pytest

from depo_ray.evaluate import TaskResult, median_summary, relative_change, summarize


def result(task_id, success, reward, turns, tokens, invalid=0, model=1.0, seconds=1.5):
    return TaskResult(task_id=task_id, success=success, reward=reward, turns=turns, generated_tokens=tokens,
                      invalid_actions=invalid, model_seconds=model, seconds=seconds)


def test_mixed_results_by_hand():
    summary = summarize([result(0, True, 0.9, 2, 40, model=1.0, seconds=1.5),
                         result(1, False, 0.0, 12, 300, invalid=3, model=4.0, seconds=5.0),
                         result(2, True, 0.6, 4, 80, invalid=1, model=2.0, seconds=2.0)])
    assert summary["tasks"] == 3
    assert summary["succ"] == pytest.approx(2 / 3)
    assert summary["reward"] == pytest.approx(0.5)
    assert summary["t_all"] == pytest.approx(140.0)
    assert summary["t_succ"] == pytest.approx(60.0)
    assert summary["s_all"] == pytest.approx(6.0)
    assert summary["s_succ"] == pytest.approx(3.0)
    assert summary["tokens_per_turn"] == pytest.approx(420 / 18)
    assert summary["invalid_action_rate"] == pytest.approx(4 / 18)
    assert summary["seconds_per_task"] == pytest.approx(8.5 / 3)
    assert summary["model_seconds_per_task"] == pytest.approx(7.0 / 3)
    assert summary["env_seconds_per_task"] == pytest.approx(1.5 / 3)


def test_no_success_leaves_the_over_success_metrics_empty():
    summary = summarize([result(0, False, 0.0, 12, 200), result(1, False, 0.2, 6, 100)])
    assert summary["succ"] == 0.0
    assert summary["t_succ"] is None and summary["s_succ"] is None
    assert summary["t_all"] == pytest.approx(150.0) and summary["s_all"] == pytest.approx(9.0)


def test_all_successes_make_over_all_equal_over_success():
    summary = summarize([result(0, True, 0.95, 1, 20), result(1, True, 0.8, 3, 70)])
    assert summary["succ"] == 1.0
    assert summary["t_succ"] == summary["t_all"] == pytest.approx(45.0)
    assert summary["s_succ"] == summary["s_all"] == pytest.approx(2.0)


def test_environment_time_is_the_rest_of_the_wall_time_and_never_negative():
    assert result(0, True, 1.0, 1, 5, model=1.0, seconds=1.25).env_seconds == pytest.approx(0.25)
    assert result(0, True, 1.0, 1, 5, model=1.3, seconds=1.25).env_seconds == 0.0


def test_no_results_is_an_error():
    with pytest.raises(ValueError, match="no task results"):
        summarize([])


def test_relative_change():
    assert relative_change(80.0, 100.0) == pytest.approx(-0.2)
    assert relative_change(-0.5, -1.0) == pytest.approx(0.5)
    assert relative_change(1.0, 0.0) is None and relative_change(None, 1.0) is None
    assert relative_change(0.0, 2.0) == pytest.approx(-1.0)


def test_median_over_seeds_skips_missing_values():
    seeds = [{"succ": 0.2, "t_all": 300.0, "t_succ": None, "method": "depo"},
             {"succ": 0.4, "t_all": 100.0, "t_succ": 50.0, "method": "depo"},
             {"succ": 0.3, "t_all": 200.0, "t_succ": 70.0, "method": "depo"}]
    medians = median_summary(seeds)
    assert medians == {"succ": 0.3, "t_all": 200.0, "t_succ": 60.0}
    assert median_summary([{"t_succ": None}])["t_succ"] is None
    with pytest.raises(ValueError):
        median_summary([])
