"""Curated datasets as the training job reads them from its input channels.

DataPrep writes each dataset version under `datasets/<purpose>/<name>/v<version>/` as `train.jsonl`
and `validation.jsonl` (plus `manifest.json`): UTF-8 JSON Lines, one record per line, each record
exactly one of these shapes (no other keys):

- finetune, chat form: `{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}`
  with at least one user and one assistant message, the last from the assistant;
- finetune, completion form: `{"prompt": str, "completion": str}`;
- preference: `{"prompt": str, "chosen": str, "rejected": str}`, chosen and rejected different, with an
  optional flat `metadata` object (provenance, e.g. the feedback export's: which interactions and
  annotators made the pair). It is checked to be an object and then dropped: the trainer sees only
  prompt, chosen and rejected.

A channel directory may hold one or several `.jsonl` files (gzip-compressed `.jsonl.gz` is read as
well), at any depth; other files (the manifest) are ignored. Files are read in path order.

The records become TRL's dataset formats: SFT conversational `{"messages": [...]}` or
prompt-completion `{"prompt", "completion"}`, DPO `{"prompt", "chosen", "rejected"}`. A finetune
dataset that mixes both forms is made conversational: a completion record becomes a user message and
an assistant message.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .args import DPO_RECIPES, RECIPES, SFT_RECIPES

DATA_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz")
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant")

CHAT = "chat"
COMPLETION = "completion"
PREFERENCE = "preference"

PREFERENCE_KEYS: tuple[str, ...] = ("prompt", "chosen", "rejected", "metadata")
"""Keys a preference record may hold; `metadata` is provenance, read past and never trained on."""

CONVERSATIONAL = "conversational"
PROMPT_COMPLETION = "prompt-completion"


class DataError(ValueError):
    """A dataset file that cannot be trained on; the message names the file and, for a record, its line."""


@dataclass(frozen=True)
class TrainingData:
    """The records of the train and validation channels, in the recipe's TRL format."""

    train: list[dict]
    validation: list[dict]
    format: str
    """`conversational` or `prompt-completion` for SFT recipes, `preference` for DPO."""


def data_files(channel_dir: str | os.PathLike[str]) -> list[Path]:
    """The JSON Lines files of a channel directory, in path order."""
    root = Path(channel_dir)
    if not root.is_dir():
        raise DataError(f"{root}: channel directory does not exist")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(DATA_SUFFIXES))


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict]]:
    """Yields `(line number, record)` for each non-blank line; line numbers start at 1."""
    file = Path(path)
    opener = gzip.open if file.name.endswith(".gz") else open
    with opener(file, "rt", encoding="utf-8-sig", newline="") as stream:  # type: ignore[operator]
        line_no = 0
        while True:
            try:
                line = stream.readline()
            except UnicodeDecodeError as error:
                raise DataError(f"{file}:{line_no + 1}: invalid UTF-8 ({error.reason})") from None
            if not line:
                return
            line_no += 1
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as error:
                raise DataError(f"{file}:{line_no}: invalid JSON: {error}") from None
            if not isinstance(value, dict):
                raise DataError(f"{file}:{line_no}: expected a JSON object, got {type(value).__name__}")
            yield line_no, value


def _non_empty(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise DataError(f"{where}: {key}: expected a non-empty string")
    return value


def _no_other_keys(record: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in record:
        if key not in allowed:
            raise DataError(f"{where}: {key}: unknown key (allowed: {', '.join(allowed)})")


def _check_messages(record: dict, where: str) -> None:
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: messages: expected a non-empty list")
    for i, message in enumerate(messages):
        at = f"{where}: messages.{i}"
        if not isinstance(message, dict):
            raise DataError(f"{at}: expected an object {{role, content}}")
        _no_other_keys(message, ("role", "content"), at)
        if message.get("role") not in CHAT_ROLES:
            raise DataError(f"{at}.role: expected one of {'|'.join(CHAT_ROLES)}")
        if not isinstance(message.get("content"), str) or not message["content"]:
            raise DataError(f"{at}.content: expected a non-empty string")
    roles = [m["role"] for m in messages]
    if "user" not in roles:
        raise DataError(f"{where}: messages: must contain at least one user message")
    if roles[-1] != "assistant":
        raise DataError(f"{where}: messages: the last message must be from the assistant (got {roles[-1]})")


def classify(record: dict, where: str) -> str:
    """The kind of a record (`chat`, `completion` or `preference`), after checking its shape."""
    if "messages" in record:
        _no_other_keys(record, ("messages",), where)
        _check_messages(record, where)
        return CHAT
    if "chosen" in record or "rejected" in record:
        _no_other_keys(record, PREFERENCE_KEYS, where)
        for key in ("prompt", "chosen", "rejected"):
            _non_empty(record, key, where)
        if "metadata" in record and not isinstance(record["metadata"], dict):
            raise DataError(f"{where}: metadata: expected an object")
        if record["chosen"] == record["rejected"]:
            raise DataError(f"{where}: rejected: must differ from chosen")
        return PREFERENCE
    if "prompt" in record or "completion" in record:
        _no_other_keys(record, ("prompt", "completion"), where)
        _non_empty(record, "prompt", where)
        _non_empty(record, "completion", where)
        return COMPLETION
    raise DataError(
        f"{where}: expected a chat record {{messages}}, a completion record {{prompt, completion}} "
        "or a preference record {prompt, chosen, rejected}"
    )


def _mismatch(recipe: str, kind: str, where: str) -> DataError:
    if recipe in SFT_RECIPES:
        return DataError(
            f"{where}: recipe {recipe} trains on finetune records (chat or completion form), but this is a "
            f"{kind} record {{prompt, chosen, rejected}}; use recipe dpo-lora for preference data"
        )
    return DataError(
        f"{where}: recipe {recipe} trains on preference records {{prompt, chosen, rejected}}, but this is a "
        f"finetune record ({kind} form); use recipe sft-lora or sft-qlora for finetune data"
    )


def read_channel(channel_dir: str | os.PathLike[str], recipe: str) -> list[tuple[str, dict]]:
    """Every record of a channel as `(kind, record)`, checked against the recipe's purpose."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe: expected one of {'|'.join(RECIPES)}, got {recipe!r}")
    records: list[tuple[str, dict]] = []
    for file in data_files(channel_dir):
        for line_no, record in read_jsonl(file):
            where = f"{file}:{line_no}"
            kind = classify(record, where)
            if (kind == PREFERENCE) != (recipe in DPO_RECIPES):
                raise _mismatch(recipe, kind, where)
            records.append((kind, record))
    return records


def _as_chat(kind: str, record: dict) -> dict:
    if kind == CHAT:
        return {"messages": [dict(m) for m in record["messages"]]}
    return {
        "messages": [
            {"role": "user", "content": record["prompt"]},
            {"role": "assistant", "content": record["completion"]},
        ]
    }


def to_trl(kinds_and_records: list[tuple[str, dict]], fmt: str) -> list[dict]:
    """The records in one TRL dataset format (`conversational`, `prompt-completion` or `preference`)."""
    out: list[dict] = []
    for kind, record in kinds_and_records:
        if fmt == PREFERENCE:
            out.append({"prompt": record["prompt"], "chosen": record["chosen"], "rejected": record["rejected"]})
        elif fmt == CONVERSATIONAL:
            out.append(_as_chat(kind, record))
        elif fmt == PROMPT_COMPLETION:
            out.append({"prompt": record["prompt"], "completion": record["completion"]})
        else:
            raise ValueError(f"unknown dataset format {fmt!r}")
    return out


def load_training_data(
    recipe: str,
    train_dir: str | os.PathLike[str],
    validation_dir: str | os.PathLike[str] | None = None,
) -> TrainingData:
    """Reads the train channel (required, at least one record) and the validation channel (optional,
    may be empty), and converts both to one TRL format for the recipe."""
    train = read_channel(train_dir, recipe)
    if not train:
        raise DataError(f"{train_dir}: no records in the train channel (files: *.jsonl, *.jsonl.gz)")
    validation = read_channel(validation_dir, recipe) if validation_dir else []
    if recipe in DPO_RECIPES:
        fmt = PREFERENCE
    else:
        kinds = {kind for kind, _ in train + validation}
        fmt = PROMPT_COMPLETION if kinds == {COMPLETION} else CONVERSATIONAL
    return TrainingData(train=to_trl(train, fmt), validation=to_trl(validation, fmt), format=fmt)
