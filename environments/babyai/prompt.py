"""The instruction (system message) that opens every BabyAI trajectory."""

_COMMON = (
    "You are an agent in a grid world. Each turn you get what you see and the actions you can "
    "take. Answer in the form 'Thought: <your reasoning> Action: <one action from the list>'. "
    "Finish the mission in as few turns as you can."
)
_MODES = {
    "high_level": " Actions such as 'go to red ball 1' or 'pick up red ball 1' walk there by themselves.",
    "primitive": " Each action is a single move: turn left, turn right, move forward, pick up, drop or toggle.",
}


def instruction_for(action_mode: str) -> str:
    return _COMMON + _MODES[action_mode]
