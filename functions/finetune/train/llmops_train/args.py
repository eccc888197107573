"""SageMaker hyperparameters and paths of a fine-tuning job.

SageMaker passes hyperparameters twice: as command-line arguments (`--key value`, every value a
string) and in `/opt/ml/input/config/hyperparameters.json` (a JSON object of strings). Both are read;
the command line wins where they differ. Keys starting with `sagemaker_` belong to SageMaker and are
ignored; any other unknown key is an error that names it.

Paths come from the SageMaker environment: the `train` and `validation` input channels
(`SM_CHANNEL_TRAIN`, `SM_CHANNEL_VALIDATION`), the model directory (`SM_MODEL_DIR`), the output data
directory (`SM_OUTPUT_DATA_DIR`) and the checkpoint directory (`/opt/ml/checkpoints`, or the
`checkpoint_dir` hyperparameter).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

RECIPES: tuple[str, ...] = ("sft-lora", "sft-qlora", "dpo-lora")
"""The training recipes: supervised fine-tuning with LoRA or QLoRA (4-bit base), or DPO with LoRA."""

SFT_RECIPES: frozenset[str] = frozenset({"sft-lora", "sft-qlora"})
DPO_RECIPES: frozenset[str] = frozenset({"dpo-lora"})

DEFAULT_HYPERPARAMETERS_FILE = "/opt/ml/input/config/hyperparameters.json"
DEFAULT_MODEL_DIR = "/opt/ml/model"
DEFAULT_OUTPUT_DATA_DIR = "/opt/ml/output/data"
DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"
DEFAULT_TRAIN_DIR = "/opt/ml/input/data/train"

MAX_LORA_RANK = 64
"""The largest `lora_r` the serving endpoint loads (vLLM's `max_lora_rank`). The API refuses a higher
rank with the same number (`MAX_LORA_RANK` in `contracts/finetune/job.ts`, which also sets the
endpoint's `SM_VLLM_MAX_LORA_RANK`); checked here too so that no job trains an adapter it cannot serve."""

DEFAULT_LEARNING_RATE: dict[str, float] = {"sft-lora": 2e-4, "sft-qlora": 2e-4, "dpo-lora": 5e-6}
"""The learning rate of each recipe when the `learning_rate` hyperparameter is not given."""


@dataclass(frozen=True)
class Hyperparameters:
    """The validated settings of one training job."""

    base_model: str
    recipe: str
    epochs: float
    learning_rate: float
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    max_seq_length: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    dpo_beta: float
    seed: int
    save_steps: int
    logging_steps: int
    max_steps: int
    train_dir: str
    validation_dir: str | None
    model_dir: str
    output_data_dir: str
    checkpoint_dir: str

    @property
    def is_dpo(self) -> bool:
        """Whether the recipe trains on preference pairs."""
        return self.recipe in DPO_RECIPES

    @property
    def is_qlora(self) -> bool:
        """Whether the base model is loaded in 4 bits."""
        return self.recipe == "sft-qlora"


def _text(name: str, value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError(f"hyperparameter {name}: must not be empty")
    return text


def _float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"hyperparameter {name}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"hyperparameter {name}: expected a finite number, got {value!r}")
    return number


def _int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        pass
    number = _float(name, value) if value.strip() else None
    if number is None or not number.is_integer():
        raise ValueError(f"hyperparameter {name}: expected an integer, got {value!r}")
    return int(number)


def _positive(kind: Callable[[str, str], float | int]) -> Callable[[str, str], float | int]:
    def parse(name: str, value: str) -> float | int:
        number = kind(name, value)
        if number <= 0:
            raise ValueError(f"hyperparameter {name}: must be > 0, got {value!r}")
        return number

    return parse


def _lora_rank(name: str, value: str) -> int:
    number = _int(name, value)
    if not 1 <= number <= MAX_LORA_RANK:
        raise ValueError(
            f"hyperparameter {name}: must be in [1, {MAX_LORA_RANK}] (the largest LoRA rank the serving"
            f" endpoint loads), got {value!r}"
        )
    return number


def _recipe(name: str, value: str) -> str:
    text = value.strip()
    if text not in RECIPES:
        raise ValueError(f"hyperparameter {name}: expected one of {'|'.join(RECIPES)}, got {value!r}")
    return text


def _dropout(name: str, value: str) -> float:
    number = _float(name, value)
    if not 0 <= number < 1:
        raise ValueError(f"hyperparameter {name}: must be in [0, 1), got {value!r}")
    return number


def _seed(name: str, value: str) -> int:
    number = _int(name, value)
    if number < 0:
        raise ValueError(f"hyperparameter {name}: must be >= 0, got {value!r}")
    return number


def _max_steps(name: str, value: str) -> int:
    number = _int(name, value)
    if number != -1 and number <= 0:
        raise ValueError(f"hyperparameter {name}: must be -1 (train for `epochs`) or > 0, got {value!r}")
    return number


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "base_model": _text,
    "recipe": _recipe,
    "epochs": _positive(_float),
    "learning_rate": _positive(_float),
    "per_device_train_batch_size": _positive(_int),
    "gradient_accumulation_steps": _positive(_int),
    "max_seq_length": _positive(_int),
    "lora_r": _lora_rank,
    "lora_alpha": _positive(_int),
    "lora_dropout": _dropout,
    "dpo_beta": _positive(_float),
    "seed": _seed,
    "save_steps": _positive(_int),
    "logging_steps": _positive(_int),
    "max_steps": _max_steps,
    "checkpoint_dir": _text,
}

DEFAULTS: dict[str, str] = {
    "epochs": "1",
    "per_device_train_batch_size": "2",
    "gradient_accumulation_steps": "8",
    "max_seq_length": "2048",
    "lora_r": "16",
    "lora_alpha": "32",
    "lora_dropout": "0.05",
    "dpo_beta": "0.1",
    "seed": "42",
    "save_steps": "50",
    "logging_steps": "10",
    "max_steps": "-1",
}
"""The default of every optional hyperparameter, as SageMaker would pass it (a string)."""

REQUIRED: tuple[str, ...] = ("base_model", "recipe")

HYPERPARAMETER_NAMES: tuple[str, ...] = tuple(_PARSERS)
"""Every hyperparameter the entry point accepts."""


def _unquote(value: str) -> str:
    """A value as SageMaker's framework estimators write it (`"\\"text\\""`) becomes `text`."""
    text = value.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return value
        if isinstance(decoded, str):
            return decoded
    return value


def parse_cli(argv: Sequence[str]) -> dict[str, str]:
    """Reads `--key value` and `--key=value` pairs into a dict of strings."""
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or len(token) == 2:
            raise ValueError(f"unexpected argument {token!r}: expected --<hyperparameter> <value>")
        key = token[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(argv):
                raise ValueError(f"hyperparameter {key}: missing value")
            value = argv[i + 1]
            i += 2
        values[key] = value
    return values


def read_hyperparameters_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The hyperparameters SageMaker wrote to `path`, as strings; empty when the file does not exist."""
    file = Path(path)
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{file}: invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object of hyperparameters")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def parse_hyperparameters(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    hyperparameters_file: str | os.PathLike[str] | None = DEFAULT_HYPERPARAMETERS_FILE,
) -> Hyperparameters:
    """Validates the job's hyperparameters and resolves its paths.

    `argv` defaults to no arguments, `env` to `os.environ`; `hyperparameters_file` is skipped when
    None or absent. Raises `ValueError` naming the hyperparameter for a missing required one, an
    unknown one, or a value of the wrong type or out of range.
    """
    environ = os.environ if env is None else env
    raw: dict[str, str] = {}
    if hyperparameters_file is not None:
        raw.update(read_hyperparameters_file(hyperparameters_file))
    raw.update(parse_cli(list(argv or [])))

    given: dict[str, str] = {}
    for key, value in raw.items():
        if key.startswith("sagemaker_"):
            continue
        if key not in _PARSERS:
            allowed = ", ".join(HYPERPARAMETER_NAMES)
            raise ValueError(f"unknown hyperparameter {key} (allowed: {allowed})")
        given[key] = _unquote(value)
    for key in REQUIRED:
        if key not in given:
            raise ValueError(f"hyperparameter {key}: required")

    values: dict[str, object] = {}
    for key, parse in _PARSERS.items():
        if key in given:
            values[key] = parse(key, given[key])
        elif key in DEFAULTS:
            values[key] = parse(key, DEFAULTS[key])
    recipe = str(values["recipe"])
    if "learning_rate" not in values:
        values["learning_rate"] = DEFAULT_LEARNING_RATE[recipe]
    checkpoint_dir = str(values.pop("checkpoint_dir", DEFAULT_CHECKPOINT_DIR))
    validation_dir = environ.get("SM_CHANNEL_VALIDATION") or None
    return Hyperparameters(
        **values,  # type: ignore[arg-type]
        train_dir=environ.get("SM_CHANNEL_TRAIN") or DEFAULT_TRAIN_DIR,
        validation_dir=validation_dir,
        model_dir=environ.get("SM_MODEL_DIR") or DEFAULT_MODEL_DIR,
        output_data_dir=environ.get("SM_OUTPUT_DATA_DIR") or DEFAULT_OUTPUT_DATA_DIR,
        checkpoint_dir=checkpoint_dir,
    )
