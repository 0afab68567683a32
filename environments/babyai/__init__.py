"""BabyAI (minigrid) as a text environment; see env.py for what a step and a reward mean."""

from environments.babyai.env import BabyAIConfig, BabyAISnapshot, BabyAITextEnv, Task
from environments.babyai.levels import HARNESS_TEST_TASKS, LARGE_TEST_TASKS, LEVELS, VALIDATION_TASKS, task_level_and_seed

__all__ = [
    "BabyAIConfig", "BabyAISnapshot", "BabyAITextEnv", "Task",
    "HARNESS_TEST_TASKS", "LARGE_TEST_TASKS", "LEVELS", "VALIDATION_TASKS", "task_level_and_seed",
]
