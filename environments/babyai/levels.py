"""The 40 BabyAI levels of the AgentGym harness that the DEPO paper evaluates on.

Task ``i`` is level ``LEVELS[i % 40]`` reset with seed ``i // 40``: the same task ids as
AgentGym's BabyAI server (``all_levels[idx % 40 + 1]``, ``seed=idx // 40``), so our test
split can use the ids the paper reports on. minigrid 3.x removed ``BabyAI-GoToObjS6-v0``;
position 3 uses its successor ``-v1``.
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = tuple(
    f"BabyAI-{name}"
    for name in (
        "GoToRedBallGrey-v0", "GoToRedBall-v0", "GoToRedBallNoDists-v0", "GoToObjS6-v1",
        "GoToLocalS8N7-v0", "GoToObjMazeS7-v0", "GoToImpUnlock-v0", "GoToSeqS5R2-v0",
        "GoToRedBlueBall-v0", "GoToDoor-v0", "GoToObjDoor-v0", "Open-v0",
        "OpenRedDoor-v0", "OpenDoorLoc-v0", "OpenRedBlueDoorsDebug-v0", "OpenDoorsOrderN4Debug-v0",
        "Pickup-v0", "UnblockPickup-v0", "PickupLoc-v0", "PickupDistDebug-v0",
        "PickupAbove-v0", "PutNextLocalS6N4-v0", "PutNextS7N4Carrying-v0", "Unlock-v0",
        "UnlockLocalDist-v0", "KeyInBox-v0", "UnlockPickupDist-v0", "BlockedUnlockPickup-v0",
        "UnlockToUnlock-v0", "ActionObjDoor-v0", "FindObjS7-v0", "KeyCorridorS6R3-v0",
        "OneRoomS20-v0", "MoveTwoAcrossS8N9-v0", "SynthS5R2-v0", "SynthLoc-v0",
        "SynthSeq-v0", "MiniBossLevel-v0", "BossLevel-v0", "BossLevelNoUnlock-v0",
    )
)

# minigrid's BabyAIBot documents that it cannot solve these; the expert skips them.
BOT_UNSOLVABLE: frozenset[str] = frozenset(
    {"BabyAI-KeyInBox-v0", "BabyAI-PutNextS7N4Carrying-v0"}
)

# The 90 test tasks of AgentGym's BabyAI evaluation (AgentGym-RL, AgentItemId/eval/
# babyai_test.json): five seeds for each of 18 levels.
HARNESS_TEST_TASKS: tuple[int, ...] = (
    1840, 1880, 1920, 1960, 2040, 2361, 2401, 2441, 2481, 2521,
    1882, 1922, 1962, 2042, 2082, 2083, 2163, 2203, 2243, 2283,
    1804, 1844, 1884, 1924, 1964, 4565, 4645, 4685, 4765, 4805,
    7606, 7726, 7966, 8086, 8126, 3727, 3847, 3887, 3927, 3967,
    1888, 1928, 2088, 2128, 2208, 3569, 3729, 3809, 3849, 3969,
    2770, 2850, 2890, 2970, 3130, 3858, 3898, 3978, 4058, 4098,
    3419, 3459, 3499, 3539, 3659, 2140, 2180, 2220, 2260, 2380,
    4549, 4629, 4909, 5029, 5069, 3150, 3310, 3550, 3750, 3790,
    4392, 4472, 4632, 4752, 6112, 11395, 12035, 12555, 12755, 12875,
)


def task_level_and_seed(task_id: int) -> tuple[str, int]:
    if task_id < 0:
        raise ValueError(f"task ids are non-negative, got {task_id}")
    return LEVELS[task_id % len(LEVELS)], task_id // len(LEVELS)


def tasks_for_levels(levels: list[str], seeds: range) -> list[int]:
    """Task ids for the given levels and seeds, in (seed, level) order."""
    unknown = [name for name in levels if name not in LEVELS]
    if unknown:
        raise ValueError(f"unknown BabyAI levels {unknown}; choose from {list(LEVELS)}")
    positions = sorted(LEVELS.index(name) for name in levels)
    return [seed * len(LEVELS) + pos for seed in seeds for pos in positions]


LARGE_SET_SEEDS = range(1000, 1025)
"""Seeds of the larger held-out set: above every seed the harness (at most 321) or a training
range of the shipped configs (at most 11) uses."""

HARNESS_LEVELS: list[str] = sorted({LEVELS[task % len(LEVELS)] for task in HARNESS_TEST_TASKS})
"""The 18 levels the harness tests, which the larger held-out sets keep."""

LARGE_TEST_TASKS: tuple[int, ...] = tuple(tasks_for_levels(HARNESS_LEVELS, LARGE_SET_SEEDS))
"""The harness's 18 levels, each at 25 unseen seeds (450 tasks): the harness's level mix with
five times its size, so a paired comparison can resolve smaller differences."""

VALIDATION_SEEDS = range(2000, 2005)
"""Seeds of the validation set: above the large set's and every training range's."""

VALIDATION_TASKS: tuple[int, ...] = tuple(tasks_for_levels(HARNESS_LEVELS, VALIDATION_SEEDS))
"""The harness's 18 levels, each at 5 more unseen seeds (90 tasks), for choosing settings
(learning rate, steps, data size): a reported number on the test tasks or the large set is
then never the one a setting was picked on."""
