"""The Pareto front of success against T@All and S@All, on hand-made points."""

import pytest

from depo_ray.tune.pareto import dominates, pareto_front


def point(succ, t_all, s_all):
    return {"succ": succ, "t_all": t_all, "s_all": s_all}


def test_a_point_better_on_every_objective_dominates():
    assert dominates(point(0.5, 100, 5), point(0.4, 120, 6))
    assert not dominates(point(0.4, 120, 6), point(0.5, 100, 5))


def test_better_on_one_and_equal_on_the_rest_dominates():
    assert dominates(point(0.5, 100, 5), point(0.5, 100, 6))
    assert dominates(point(0.5, 90, 5), point(0.5, 100, 5))


def test_equal_points_do_not_dominate_each_other_and_both_stay_on_the_front():
    tied = [point(0.5, 100, 5), point(0.5, 100, 5), point(0.3, 150, 7)]
    assert pareto_front(tied) == [0, 1]


def test_duplicates_of_a_dominated_point_are_all_dominated():
    points = [point(0.3, 150, 7), point(0.6, 90, 4), point(0.3, 150, 7)]
    assert pareto_front(points) == [1]


def test_a_trade_off_keeps_both_ends():
    points = [point(0.6, 200, 8), point(0.4, 80, 4), point(0.5, 210, 9), point(0.4, 80, 5)]
    # 0: most successful; 1: cheapest; 2 loses to 0 everywhere; 3 loses to 1 on S@All only
    assert pareto_front(points) == [0, 1]


def test_other_objectives_and_orientations():
    points = [{"reward": 1.0, "t_all": 50}, {"reward": 0.8, "t_all": 40}, {"reward": 0.8, "t_all": 60}]
    assert pareto_front(points, {"reward": "max", "t_all": "min"}) == [0, 1]
    assert pareto_front(points, {"t_all": "max"}) == [2]


def test_missing_or_nan_objectives_are_refused():
    with pytest.raises(ValueError, match="t_all"):
        pareto_front([point(0.5, None, 5), point(0.4, 100, 5)])
    with pytest.raises(ValueError, match="succ"):
        pareto_front([point(float("nan"), 100, 5), point(0.4, 100, 5)])
    with pytest.raises(ValueError, match="mode"):
        dominates(point(0.5, 1, 1), point(0.5, 1, 1), {"succ": "up"})
