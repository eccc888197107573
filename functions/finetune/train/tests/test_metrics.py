"""Metric lines and the SageMaker metric definitions that read them."""

from __future__ import annotations

import json
import math
import re
import unittest

from llmops_train.metrics import (
    DEFINITIONS_FILE,
    DPO_ONLY_METRICS,
    LOG_KEY_TO_METRIC,
    MAX_DEFINITIONS,
    MAX_NAME_CHARS,
    MAX_REGEX_CHARS,
    build_metric_definitions,
    format_metric_lines,
    load_metric_definitions,
    metric_definitions,
)

SFT_LOG = {"loss": 0.6931, "grad_norm": 1.25, "learning_rate": 2e-05, "epoch": 0.5, "num_tokens": 1024.0}
DPO_LOG = {
    "loss": 0.69,
    "rewards/accuracies": 0.75,
    "rewards/chosen": 0.1,
    "eval_loss": 0.7,
    "eval_rewards/accuracies": 0.5,
    "epoch": 1,
}
PORTABLE_REGEX = re.compile(r"^[A-Za-z_ ]+=\(\[[-+0-9.eE]+\]\+\)$")


class FormatTest(unittest.TestCase):
    def test_one_line_per_reported_value(self) -> None:
        self.assertEqual(
            format_metric_lines(SFT_LOG),
            [
                "llmops_metric train_loss=0.6931",
                "llmops_metric grad_norm=1.25",
                "llmops_metric learning_rate=2e-05",
                "llmops_metric epoch=0.5",
            ],
        )

    def test_dpo_keys_are_mapped(self) -> None:
        self.assertEqual(
            format_metric_lines(DPO_LOG),
            [
                "llmops_metric train_loss=0.69",
                "llmops_metric rewards_accuracies=0.75",
                "llmops_metric eval_loss=0.7",
                "llmops_metric eval_rewards_accuracies=0.5",
                "llmops_metric epoch=1.0",
            ],
        )

    def test_non_finite_and_non_numbers_are_skipped(self) -> None:
        logs = {"loss": math.nan, "grad_norm": math.inf, "eval_loss": -math.inf, "epoch": True, "learning_rate": "x"}
        self.assertEqual(format_metric_lines(logs), [])

    def test_numbers_round_trip(self) -> None:
        for value in (1e-300, 123456789.123, -0.5, 3e21, 1 / 3):
            (line,) = format_metric_lines({"loss": value})
            self.assertEqual(float(line.split("=", 1)[1]), value)


class DefinitionsTest(unittest.TestCase):
    def test_json_file_is_the_built_list(self) -> None:
        self.assertEqual(load_metric_definitions(), build_metric_definitions())
        self.assertEqual(json.loads(DEFINITIONS_FILE.read_text(encoding="utf-8")), metric_definitions())

    def test_names(self) -> None:
        self.assertEqual(
            [d["Name"] for d in metric_definitions()],
            ["train_loss", "eval_loss", "learning_rate", "epoch", "grad_norm", "rewards_accuracies", "eval_rewards_accuracies"],
        )
        self.assertEqual({d["Name"] for d in metric_definitions()}, set(LOG_KEY_TO_METRIC.values()))

    def test_recipe_filter(self) -> None:
        sft = {d["Name"] for d in metric_definitions("sft-lora")}
        self.assertFalse(sft & DPO_ONLY_METRICS)
        self.assertEqual({d["Name"] for d in metric_definitions("dpo-lora")} - sft, set(DPO_ONLY_METRICS))

    def test_sagemaker_limits(self) -> None:
        definitions = metric_definitions()
        self.assertLessEqual(len(definitions), MAX_DEFINITIONS)
        self.assertEqual(len({d["Name"] for d in definitions}), len(definitions))
        for d in definitions:
            self.assertEqual(set(d), {"Name", "Regex"})
            self.assertTrue(1 <= len(d["Name"]) <= MAX_NAME_CHARS)
            self.assertTrue(1 <= len(d["Regex"]) <= MAX_REGEX_CHARS)
            self.assertRegex(d["Regex"], PORTABLE_REGEX)

    def test_every_regex_matches_its_line_only(self) -> None:
        lines = format_metric_lines(SFT_LOG) + format_metric_lines(DPO_LOG)
        log = "\n".join(["[2026-01-01 00:00:00] step 10", *lines, "{'loss': 0.69, 'epoch': 1.0}"])
        for d in metric_definitions():
            with self.subTest(name=d["Name"]):
                pattern = re.compile(d["Regex"])
                matches = [m for line in log.splitlines() if (m := pattern.search(line))]
                self.assertTrue(matches, f"{d['Name']}: no line matched")
                for match in matches:
                    self.assertTrue(match.string.startswith(f"llmops_metric {d['Name']}="))
                    self.assertTrue(math.isfinite(float(match.group(1))))

    def test_regex_captures_exponents(self) -> None:
        (line,) = format_metric_lines({"learning_rate": 2.5e-07})
        regex = next(d["Regex"] for d in metric_definitions() if d["Name"] == "learning_rate")
        self.assertEqual(float(re.search(regex, line).group(1)), 2.5e-07)  # type: ignore[union-attr]


if __name__ == "__main__":
    unittest.main()
