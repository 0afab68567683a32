"""Our trajectory records in and out of other projects' preference data.

    read_paper_kto(path, env)              the DEPO paper's released KTO rows -> records
    write_paper_kto(records, path)         records -> the same rows
    write_trl(records, path)               TRL's unpaired preference rows (prompt, completion, label)
    read_trl(path, env, tokenizer)
    write_llamafactory(records, folder, name)   LLaMA-Factory sharegpt KTO rows + dataset_info.json
    read_llamafactory(folder, name, env, tokenizer)

The paper's rows carry their own step and token counts (messages, label, steps,
avg_tokens_per_step, total_tokens); TRL's and LLaMA-Factory's do not, so reading them counts
tokens with the policy's tokenizer (``depo_ray.tokens``). Only labeled records are written:
the other formats have no place for a dropped trajectory. Files are JSON Lines, or a JSON
array (LLaMA-Factory's usual form, and accepted on reading anywhere).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from depo_ray.files import write_text_atomically
from depo_ray.records import LABELS, RecordError, TrajectoryRecord, validate
from depo_ray.tokens import tokens_per_turn

PAPER_FIELDS = ("messages", "label", "steps", "avg_tokens_per_step", "total_tokens")
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
"""LLaMA-Factory's default sharegpt role tags and ours."""


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a JSON Lines file or of a JSON array file."""
    path = Path(path)
    text = path.read_text()
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise RecordError(f"{path}: line {number}: not JSON ({error.msg})") from None
    if not all(isinstance(row, dict) for row in rows):
        raise RecordError(f"{path}: every row must be a JSON object")
    return rows


def _write_rows(rows: list[dict], path: str | Path, as_array: bool = False) -> Path:
    text = json.dumps(rows, indent=1) if as_array else "".join(json.dumps(row) + "\n" for row in rows)
    write_text_atomically(path, text)
    return Path(path)


def _label(value, where: str) -> str:
    """The paper and LLaMA-Factory mark D with true; our names are accepted too."""
    if isinstance(value, bool):
        return LABELS[0] if value else LABELS[1]
    if value in LABELS:
        return value
    raise RecordError(f"{where}: label must be true/false or one of {LABELS}, got {value!r}")


def _messages(value, where: str) -> list[dict[str, str]]:
    """A chat as role/content dicts; sharegpt's from/value with its default tags is read too."""
    if not isinstance(value, list) or not value:
        raise RecordError(f"{where}: messages must be a non-empty list")
    chat = []
    for i, message in enumerate(value):
        if isinstance(message, dict) and "from" in message and "value" in message:
            message = {"role": SHAREGPT_ROLES.get(message["from"], message["from"]), "content": message["value"]}
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise RecordError(f"{where}: messages[{i}] must have role and content, got {message!r}")
        chat.append(dict(message))
    return chat


def _imported(messages: list[dict], label: str, counts: tuple[int, float], env: str, where: str, row: int,
              provenance: dict) -> TrajectoryRecord:
    total, average = counts
    record = TrajectoryRecord(
        task_id=f"{Path(where).stem}:{row}", env=env, split="train", seed=0,
        instruction=messages[0]["content"] if messages[0]["role"] == "system" else "",
        messages=messages, steps=sum(m["role"] == "assistant" for m in messages), total_tokens=total,
        avg_tokens_per_step=average,
        # the formats carry no environment reward: a desirable trajectory counts as a success
        reward=1.0 if label == "desirable" else 0.0, success=label == "desirable",
        source="import", policy=f"import:{Path(where).name}", label=label,
        provenance={"file": str(where), "row": row, **provenance})
    try:
        validate(record)
    except ValueError as error:
        raise RecordError(f"{where}: row {row}: {error}") from None
    return record


def _counted(messages: list[dict], tokenizer) -> tuple[int, float]:
    counts = tokens_per_turn(tokenizer, messages)
    return sum(counts), sum(counts) / len(counts) if counts else 0.0


def _labeled(records: Iterable[TrajectoryRecord]) -> list[TrajectoryRecord]:
    return [r for r in records if r.label in LABELS]


def _whole_trajectories(records: Iterable[TrajectoryRecord], form: str) -> list[TrajectoryRecord]:
    """The labeled records, refusing invalid-turn examples, whose loss is on their last turn
    alone: ``form`` trains on every turn of a row."""
    labeled = _labeled(records)
    examples = sum("loss_turn" in r.provenance for r in labeled)
    if examples:
        raise RecordError(f"{examples} of the records are invalid-turn examples (the loss on their last turn only), which "
                          f"{form} cannot express: write TRL rows, or label without label.invalid_turns")
    return labeled


# --- the DEPO paper's KTO rows ------------------------------------------------------------

def read_paper_kto(path: str | Path, env: str) -> list[TrajectoryRecord]:
    """The paper's rows as records, with the paper's own step and token counts. A row's other
    keys are kept in ``provenance["extra"]`` and written back by ``write_paper_kto``."""
    records = []
    for i, row in enumerate(read_rows(path)):
        where = f"{path}: row {i}"
        missing = [name for name in PAPER_FIELDS if name not in row]
        if missing:
            raise RecordError(f"{where}: missing {missing}")
        steps, total, average = row["steps"], row["total_tokens"], row["avg_tokens_per_step"]
        if not isinstance(total, int) or isinstance(total, bool) or not isinstance(average, (int, float)):
            raise RecordError(f"{where}: total_tokens must be an int and avg_tokens_per_step a number")
        messages = _messages(row["messages"], where)
        turns = sum(m["role"] == "assistant" for m in messages)
        if steps != turns:
            raise RecordError(f"{where}: steps is {steps!r} but messages hold {turns} assistant turns")
        extra = {k: v for k, v in row.items() if k not in PAPER_FIELDS}
        records.append(_imported(messages, _label(row["label"], where), (total, float(average)), env, str(path), i,
                                 {"extra": extra} if extra else {}))
    return records


def write_paper_kto(records: Iterable[TrajectoryRecord], path: str | Path) -> Path:
    rows = [{**r.provenance.get("extra", {}), "messages": r.messages, "label": r.label == "desirable", "steps": r.steps,
             "avg_tokens_per_step": r.avg_tokens_per_step, "total_tokens": r.total_tokens}
            for r in _whole_trajectories(records, "the paper's rows")]
    return _write_rows(rows, path)


# --- TRL: unpaired preference (KTOTrainer) ------------------------------------------------

def _split_at_first_reply(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), None)
    if first is None:
        raise RecordError("a trajectory without an agent turn has no completion")
    return messages[:first], messages[first:]


def write_trl(records: Iterable[TrajectoryRecord], path: str | Path) -> Path:
    """One row per labeled trajectory: the chat before the agent's first turn is the prompt,
    the rest (its turns and the observations between them) the completion. Note that TRL
    trains on every completion token, observations included; our trainer masks them. An
    invalid-turn example's completion is its last turn alone, the rest its prompt."""
    rows = []
    for record in _labeled(records):
        if "loss_turn" in record.provenance:
            prompt, completion = record.messages[:-1], record.messages[-1:]
        else:
            prompt, completion = _split_at_first_reply(record.messages)
        rows.append({"prompt": prompt, "completion": completion, "label": record.label == "desirable"})
    return _write_rows(rows, path)


def read_trl(path: str | Path, env: str, tokenizer) -> list[TrajectoryRecord]:
    records = []
    for i, row in enumerate(read_rows(path)):
        where = f"{path}: row {i}"
        if not {"prompt", "completion", "label"} <= set(row):
            raise RecordError(f"{where}: expected prompt, completion and label, got {sorted(row)}")
        prompt, completion = _messages(row["prompt"], where), _messages(row["completion"], where)
        records.append(_imported(prompt + completion, _label(row["label"], where), _counted(prompt + completion, tokenizer),
                                 env, str(path), i, _loss_turn(prompt, completion, where)))
    return records


def _loss_turn(prompt: list[dict], completion: list[dict], where: str) -> dict:
    """A prompt that holds agent turns is context: the row trains on its completion, which our
    records express only as one last turn (``loss_turn``)."""
    turns = sum(m["role"] == "assistant" for m in prompt)
    if not turns:
        return {}
    if [m["role"] for m in completion] != ["assistant"]:
        raise RecordError(f"{where}: a prompt with agent turns needs a completion of one agent turn, "
                          f"got roles {[m['role'] for m in completion]}")
    return {"loss_turn": turns}


# --- LLaMA-Factory: sharegpt rows with kto_tag --------------------------------------------

def dataset_info(name: str) -> dict:
    """The dataset_info.json entry that makes LLaMA-Factory read the file as KTO data."""
    return {name: {"file_name": f"{name}.json", "formatting": "sharegpt",
                   "columns": {"messages": "conversations", "system": "system", "kto_tag": "kto_tag"}}}


def write_llamafactory(records: Iterable[TrajectoryRecord], folder: str | Path, name: str) -> Path:
    """<folder>/<name>.json and <folder>/dataset_info.json (merged into an existing one)."""
    to_sharegpt = {ours: tag for tag, ours in SHAREGPT_ROLES.items()}
    rows = []
    for record in _whole_trajectories(records, "LLaMA-Factory's sharegpt rows"):
        chat = record.messages[1:] if record.messages[0]["role"] == "system" else record.messages
        rows.append({"conversations": [{"from": to_sharegpt[m["role"]], "value": m["content"]} for m in chat],
                     "system": record.messages[0]["content"] if record.messages[0]["role"] == "system" else "",
                     "kto_tag": record.label == "desirable"})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info_path = folder / "dataset_info.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    _write_rows(rows, folder / f"{name}.json", as_array=True)
    write_text_atomically(info_path, json.dumps({**info, **dataset_info(name)}, indent=2))
    return folder / f"{name}.json"


def read_llamafactory(folder: str | Path, name: str, env: str, tokenizer) -> list[TrajectoryRecord]:
    """A KTO dataset as dataset_info.json describes it (default sharegpt tags only)."""
    folder = Path(folder)
    info = json.loads((folder / "dataset_info.json").read_text())
    if name not in info:
        raise RecordError(f"{folder / 'dataset_info.json'}: no dataset named {name!r} (has {sorted(info)})")
    columns = info[name].get("columns", {})
    messages_key, system_key, tag_key = (columns.get("messages", "conversations"), columns.get("system"),
                                         columns.get("kto_tag"))
    if tag_key is None:
        raise RecordError(f"{folder / 'dataset_info.json'}: {name} has no kto_tag column, so it is not KTO data")
    path = folder / info[name]["file_name"]
    records = []
    for i, row in enumerate(read_rows(path)):
        where = f"{path}: row {i}"
        system = [{"role": "system", "content": row[system_key]}] if system_key and row.get(system_key) else []
        messages = system + _messages(row.get(messages_key), where)
        records.append(_imported(messages, _label(row.get(tag_key), where), _counted(messages, tokenizer), env, str(path), i, {}))
    return records
