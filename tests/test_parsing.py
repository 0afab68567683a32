from environments.parsing import format_response, normalize_action, parse_response


def test_thought_and_action_are_split():
    parsed = parse_response("Thought: the ball is ahead.\nAction: go to red ball 1")
    assert parsed.thought == "the ball is ahead."
    assert parsed.action == "go to red ball 1"


def test_last_action_wins_and_case_is_ignored():
    parsed = parse_response("THOUGHT: maybe action: turn left? no.\nACTION: turn right")
    assert parsed.action == "turn right"
    assert parsed.thought == "maybe action: turn left? no."


def test_missing_action_gives_none_and_keeps_text_as_thought():
    parsed = parse_response("I am not sure what to do")
    assert parsed.action is None
    assert parsed.thought == "I am not sure what to do"


def test_action_stops_at_end_of_line_and_empty_action_is_empty():
    assert parse_response("Action: move forward\nand some trailing words").action == "move forward"
    assert parse_response("Thought: hmm. Action:").action == ""


def test_normalize_action_lowercases_and_strips_punctuation():
    assert normalize_action("  'Go To  Red Ball 1.' ") == "go to red ball 1"
    assert normalize_action("[Turn Left]") == "turn left"


def test_format_round_trips():
    parsed = parse_response(format_response("a short plan", "pick up"))
    assert (parsed.thought, parsed.action) == ("a short plan", "pick up")
