"""Metric lines in the training log, and the SageMaker metric definitions that read them.

Each logged value becomes one line, `llmops_metric <name>=<number>`, e.g.
`llmops_metric train_loss=0.6931`. SageMaker matches every log line against the regex of each metric
definition and records the captured number as the metric. The definitions live in
`metric_definitions.json` beside the entry point: the infrastructure reads the same file, so the names
and regexes below and the ones SageMaker is given cannot disagree.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Mapping

PREFIX = "llmops_metric"

DEFINITIONS_FILE = Path(__file__).resolve().parent.parent / "metric_definitions.json"
"""The metric definitions, as SageMaker's `MetricDefinitions` take them."""

LOG_KEY_TO_METRIC: dict[str, str] = {
    "loss": "train_loss",
    "eval_loss": "eval_loss",
    "learning_rate": "learning_rate",
    "epoch": "epoch",
    "grad_norm": "grad_norm",
    "rewards/accuracies": "rewards_accuracies",
    "eval_rewards/accuracies": "eval_rewards_accuracies",
}
"""The Trainer and TRL log keys that are reported, and the metric name of each."""

DPO_ONLY_METRICS: frozenset[str] = frozenset({"rewards_accuracies", "eval_rewards_accuracies"})
"""Metrics only the DPO recipe logs."""

NUMBER_PATTERN = "([-+0-9.eE]+)"
"""The capture group of every regex: the characters a finite float's `repr` is made of."""

MAX_DEFINITIONS = 40
MAX_NAME_CHARS = 255
MAX_REGEX_CHARS = 500


def metric_regex(name: str) -> str:
    """The regex that captures metric `name` from its line."""
    return f"{PREFIX} {name}={NUMBER_PATTERN}"


def format_number(value: float) -> str:
    """A finite number as `repr` writes a float: round-trips exactly, e.g. `0.6931`, `2e-05`, `3.0`."""
    return repr(float(value))


def _finite_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def format_metric_lines(logs: Mapping[str, object]) -> list[str]:
    """One line per reported key of a Trainer log event, in the order of `logs`.

    Keys other than those of `LOG_KEY_TO_METRIC`, values that are not real numbers, and NaN or
    infinite values are left out.
    """
    lines: list[str] = []
    for key, value in logs.items():
        name = LOG_KEY_TO_METRIC.get(key)
        if name is None:
            continue
        number = _finite_number(value)
        if number is None:
            continue
        lines.append(f"{PREFIX} {name}={format_number(number)}")
    return lines


def load_metric_definitions(path: str | Path = DEFINITIONS_FILE) -> list[dict[str, str]]:
    """The metric definitions of `metric_definitions.json`: a list of `{"Name", "Regex"}`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of metric definitions")
    return data


def build_metric_definitions() -> list[dict[str, str]]:
    """The metric definitions that `metric_definitions.json` must hold, from `LOG_KEY_TO_METRIC`."""
    return [{"Name": name, "Regex": metric_regex(name)} for name in LOG_KEY_TO_METRIC.values()]


def metric_definitions(recipe: str | None = None) -> list[dict[str, str]]:
    """The metric definitions for a recipe (all of them when `recipe` is None or a DPO recipe)."""
    definitions = load_metric_definitions()
    if recipe is None or recipe.startswith("dpo"):
        return definitions
    return [d for d in definitions if d["Name"] not in DPO_ONLY_METRICS]
