"""Records in and out of the DEPO paper's KTO rows, TRL's unpaired preference format and
LLaMA-Factory's sharegpt KTO format: round trips, what each format holds, and bad rows."""

import json

import pytest

from depo_ray.records import RecordError, TrajectoryRecord, read_records, write_shard
from depo_ray.records import interop
from depo_ray.tokens import tokens_per_turn

CHAT = [{"role": "system", "content": "Reach the goal."}, {"role": "user", "content": "You see a wall."},
        {"role": "assistant", "content": "Thought: turn.\nAction: turn left"}, {"role": "user", "content": "You see a door."},
        {"role": "assistant", "content": "Thought: go through the door, it is ahead.\nAction: move forward"}]
PAPER_ROWS = [
    {"messages": CHAT, "label": True, "steps": 2, "avg_tokens_per_step": 41.5, "total_tokens": 83, "id": "webshop_17"},
    {"messages": CHAT[:3], "label": False, "steps": 1, "avg_tokens_per_step": 12.0, "total_tokens": 12},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def counted(messages, tokenizer, label, task_id="t") -> TrajectoryRecord:
    counts = tokens_per_turn(tokenizer, messages)
    return TrajectoryRecord(task_id=task_id, env="babyai", split="train", seed=0, instruction=messages[0]["content"],
                            messages=messages, steps=len(counts), total_tokens=sum(counts),
                            avg_tokens_per_step=sum(counts) / len(counts), reward=1.0 if label == "desirable" else 0.0,
                            success=label == "desirable", source="mcts", policy="tiny", label=label)


def test_the_papers_rows_round_trip_through_our_records(tmp_path):
    records = interop.read_paper_kto(write_jsonl(tmp_path / "kto.jsonl", PAPER_ROWS), env="webshop")
    first, second = records
    assert (first.label, first.steps, first.total_tokens, first.avg_tokens_per_step) == ("desirable", 2, 83, 41.5)
    assert (second.label, second.success, second.reward) == ("undesirable", False, 0.0)
    assert first.source == "import" and first.env == "webshop" and first.instruction == "Reach the goal."
    write_shard(records, tmp_path / "all.parquet")  # valid records: the trainer's shards
    interop.write_paper_kto(read_records(tmp_path / "all.parquet"), tmp_path / "back.jsonl")
    assert interop.read_rows(tmp_path / "back.jsonl") == PAPER_ROWS


def test_a_json_array_file_reads_like_json_lines(tmp_path):
    (tmp_path / "kto.json").write_text(json.dumps(PAPER_ROWS))
    assert [r.messages for r in interop.read_paper_kto(tmp_path / "kto.json", "babyai")] == [CHAT, CHAT[:3]]


@pytest.mark.parametrize("change, message", [
    ({"steps": 3}, "row 0: steps is 3 but messages hold 2"),
    ({"label": "good"}, "row 0: label must be"),
    ({"total_tokens": "83"}, "row 0: total_tokens must be an int"),
    ({"messages": [{"role": "assistant"}]}, r"row 0: messages\[0\] must have role and content"),
])
def test_a_bad_paper_row_is_named(tmp_path, change, message):
    path = write_jsonl(tmp_path / "kto.jsonl", [{**PAPER_ROWS[0], **change}])
    with pytest.raises(RecordError, match=message):
        interop.read_paper_kto(path, "babyai")
    missing = write_jsonl(tmp_path / "missing.jsonl", [PAPER_ROWS[1], {"messages": CHAT, "label": True}])
    with pytest.raises(RecordError, match=r"row 1: missing \['steps', 'avg_tokens_per_step', 'total_tokens'\]"):
        interop.read_paper_kto(missing, "babyai")


def test_trl_rows_split_the_chat_at_the_first_reply_and_read_back(tmp_path, tiny_tokenizer):
    from trl.data_utils import maybe_apply_chat_template

    records = [counted(CHAT, tiny_tokenizer, "desirable"), counted(CHAT[:3], tiny_tokenizer, "undesirable")]
    dropped = counted(CHAT, tiny_tokenizer, None)
    interop.write_trl([*records, dropped], tmp_path / "trl.jsonl")
    rows = interop.read_rows(tmp_path / "trl.jsonl")
    assert [r["label"] for r in rows] == [True, False]  # the dropped trajectory has no place here
    assert rows[0]["prompt"] == CHAT[:2] and rows[0]["completion"] == CHAT[2:]
    # TRL renders our row as an unpaired preference example whose prompt and completion texts
    # join into exactly the chat our trainer renders
    rendered = maybe_apply_chat_template(rows[0], tiny_tokenizer)
    assert rendered["label"] is True and rendered["completion"].startswith("Thought: turn.")
    assert rendered["prompt"] + rendered["completion"] == tiny_tokenizer.apply_chat_template(CHAT, tokenize=False)
    back = interop.read_trl(tmp_path / "trl.jsonl", "babyai", tiny_tokenizer)
    assert [(r.messages, r.label, r.steps, r.total_tokens) for r in back] == \
        [(r.messages, r.label, r.steps, r.total_tokens) for r in records]


def test_an_invalid_turn_example_is_a_trl_row_whose_completion_is_that_turn(tmp_path, tiny_tokenizer):
    example = counted(CHAT, tiny_tokenizer, "undesirable")
    example.provenance = {"invalid_turns": [1], "loss_turn": 1}
    interop.write_trl([example], tmp_path / "trl.jsonl")
    (row,) = interop.read_rows(tmp_path / "trl.jsonl")
    assert (row["prompt"], row["completion"], row["label"]) == (CHAT[:4], CHAT[4:], False)
    (back,) = interop.read_trl(tmp_path / "trl.jsonl", "babyai", tiny_tokenizer)
    assert back.messages == CHAT and back.provenance["loss_turn"] == 1
    write_jsonl(tmp_path / "two.jsonl", [{"prompt": CHAT[:4], "completion": CHAT[4:] * 2, "label": False}])
    with pytest.raises(RecordError, match="two.jsonl: row 0: a prompt with agent turns needs a completion of one"):
        interop.read_trl(tmp_path / "two.jsonl", "babyai", tiny_tokenizer)
    for write in (lambda: interop.write_paper_kto([example], tmp_path / "paper.jsonl"),
                  lambda: interop.write_llamafactory([example], tmp_path / "lf", "ours")):
        with pytest.raises(RecordError, match="1 of the records are invalid-turn examples"):
            write()


def test_llamafactory_rows_and_dataset_info_read_back(tmp_path, tiny_tokenizer):
    records = [counted(CHAT, tiny_tokenizer, "desirable"), counted(CHAT[:3], tiny_tokenizer, "undesirable")]
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "other.json"}}))
    interop.write_llamafactory(records, tmp_path, "depo_babyai")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {"other", "depo_babyai"}  # an existing dataset_info.json keeps its entries
    assert info["depo_babyai"]["formatting"] == "sharegpt" and info["depo_babyai"]["columns"]["kto_tag"] == "kto_tag"
    (row, _) = json.loads((tmp_path / "depo_babyai.json").read_text())
    assert row["system"] == "Reach the goal." and row["kto_tag"] is True
    assert [m["from"] for m in row["conversations"]] == ["human", "gpt", "human", "gpt"]
    back = interop.read_llamafactory(tmp_path, "depo_babyai", "babyai", tiny_tokenizer)
    assert [(r.messages, r.label, r.total_tokens) for r in back] == [(r.messages, r.label, r.total_tokens) for r in records]
    with pytest.raises(RecordError, match="no kto_tag column"):
        interop.read_llamafactory(tmp_path, "other", "babyai", tiny_tokenizer)


def test_the_convert_job_imports_and_exports_the_papers_rows(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    job = Path(__file__).resolve().parents[1] / "jobs" / "convert_data.py"
    source = write_jsonl(tmp_path / "kto.jsonl", PAPER_ROWS)
    run = lambda *args: subprocess.run([sys.executable, str(job), *args], capture_output=True, text=True, timeout=120)  # noqa: E731
    refused = run("import-paper", str(source), str(tmp_path / "all.parquet"))
    assert refused.returncode != 0 and "needs --env" in refused.stderr
    imported = run("import-paper", str(source), str(tmp_path / "all.parquet"), "--env", "webshop")
    assert imported.returncode == 0 and "wrote 2 records (1 desirable)" in imported.stdout, imported.stderr
    exported = run("export-paper", str(tmp_path / "all.parquet"), str(tmp_path / "back.jsonl"))
    assert exported.returncode == 0, exported.stderr
    assert interop.read_rows(tmp_path / "back.jsonl") == PAPER_ROWS
