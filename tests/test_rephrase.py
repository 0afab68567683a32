"""Rephrasing keeps every Action: a rewrite that changes it, or is not shorter, is not taken."""

from depo_ray.rephrase import RephraseConfig, rephrase_record, rephrase_turn
from depo_ray.serving.openai_client import EndpointConfig
from depo_ray.serving.server import Generation
from depo_ray.tokens import tokens_per_turn
from tests.test_records import make_record

CONFIG = RephraseConfig(endpoint=EndpointConfig(base_url="http://localhost:1/v1", model="unused"))
LONG = "Thought: The red ball is two steps ahead of me, so walking there finishes the mission. Action: go to red ball 1"


def answering(text):
    return lambda messages, n, sampling: [Generation(text=text, completion_tokens=5, prompt_tokens=9)]


def test_a_shorter_rewrite_with_the_same_action_is_taken():
    assert rephrase_turn(LONG, answering("Thought: ball ahead. Action: Go to red ball 1."), CONFIG) == (
        "Thought: ball ahead. Action: Go to red ball 1.", True)


def test_a_changed_missing_or_longer_answer_keeps_the_original():
    for answer in ("Thought: ball ahead. Action: go to blue ball 1", "Thought: ball ahead.", LONG + " really"):
        assert rephrase_turn(LONG, answering(answer), CONFIG) == (LONG, False)


def long_record(label):
    messages = [{"role": "system", "content": "Be quick."}, {"role": "user", "content": "Mission: go to the red ball"},
                {"role": "assistant", "content": LONG}]
    return make_record(messages=messages, label=label)


def test_records_are_recounted_and_only_desirable_ones_change(tiny_tokenizer):
    record = long_record("desirable")
    short = rephrase_record(record, answering("Thought: go. Action: go to red ball 1"), tiny_tokenizer, CONFIG)
    assert short.total_tokens < sum(tokens_per_turn(tiny_tokenizer, record.messages))
    assert short.total_tokens == sum(tokens_per_turn(tiny_tokenizer, short.messages))
    assert short.provenance["rephrased_turns"] >= 1
    undesirable = long_record("undesirable")
    assert rephrase_record(undesirable, answering("Thought: go. Action: x"), tiny_tokenizer, CONFIG) is undesirable

