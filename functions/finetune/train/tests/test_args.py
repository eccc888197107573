"""Hyperparameters: defaults, types, ranges, unknown keys, SageMaker's keys and paths."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import unittest

from llmops_train.args import (
    DEFAULT_CHECKPOINT_DIR,
    HYPERPARAMETER_NAMES,
    MAX_LORA_RANK,
    parse_cli,
    parse_hyperparameters,
)

BASE = ["--base_model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--recipe", "sft-lora"]
ENV = {"SM_CHANNEL_TRAIN": "/data/train", "SM_MODEL_DIR": "/m", "SM_OUTPUT_DATA_DIR": "/o"}


def parse(*extra: str, recipe: str = "sft-lora", env: dict | None = None):
    argv = ["--base_model", "org/model", "--recipe", recipe, *extra]
    return parse_hyperparameters(argv, ENV if env is None else env, hyperparameters_file=None)


class DefaultsTest(unittest.TestCase):
    def test_defaults_for_sft(self) -> None:
        hp = parse()
        self.assertEqual(hp.base_model, "org/model")
        self.assertEqual(hp.recipe, "sft-lora")
        self.assertEqual(hp.epochs, 1.0)
        self.assertEqual(hp.learning_rate, 2e-4)
        self.assertEqual(hp.per_device_train_batch_size, 2)
        self.assertEqual(hp.gradient_accumulation_steps, 8)
        self.assertEqual(hp.max_seq_length, 2048)
        self.assertEqual((hp.lora_r, hp.lora_alpha, hp.lora_dropout), (16, 32, 0.05))
        self.assertEqual(hp.dpo_beta, 0.1)
        self.assertEqual((hp.seed, hp.save_steps, hp.logging_steps, hp.max_steps), (42, 50, 10, -1))
        self.assertFalse(hp.is_dpo)
        self.assertFalse(hp.is_qlora)

    def test_dpo_learning_rate_default(self) -> None:
        hp = parse(recipe="dpo-lora")
        self.assertEqual(hp.learning_rate, 5e-6)
        self.assertTrue(hp.is_dpo)

    def test_qlora(self) -> None:
        self.assertTrue(parse(recipe="sft-qlora").is_qlora)

    def test_frozen(self) -> None:
        hp = parse()
        with self.assertRaises(dataclasses.FrozenInstanceError):
            hp.epochs = 2  # type: ignore[misc]

    def test_values_are_strings_converted(self) -> None:
        hp = parse(
            "--epochs", "2.5", "--learning_rate", "1e-5", "--lora_r", "8", "--max_steps", "100",
            "--lora_dropout", "0", "--seed", "0", "--per_device_train_batch_size=4",
        )  # fmt: skip
        self.assertEqual((hp.epochs, hp.learning_rate, hp.lora_r, hp.max_steps), (2.5, 1e-5, 8, 100))
        self.assertEqual((hp.lora_dropout, hp.seed, hp.per_device_train_batch_size), (0.0, 0, 4))

    def test_integer_written_as_float(self) -> None:
        self.assertEqual(parse("--lora_r", "8.0").lora_r, 8)

    def test_json_quoted_values(self) -> None:
        hp = parse_hyperparameters(
            ["--base_model", '"org/quoted"', "--recipe", '"dpo-lora"'], ENV, hyperparameters_file=None
        )
        self.assertEqual((hp.base_model, hp.recipe), ("org/quoted", "dpo-lora"))


class PathsTest(unittest.TestCase):
    def test_channels_and_dirs_from_env(self) -> None:
        env = {**ENV, "SM_CHANNEL_VALIDATION": "/data/validation"}
        hp = parse(env=env)
        self.assertEqual(hp.train_dir, "/data/train")
        self.assertEqual(hp.validation_dir, "/data/validation")
        self.assertEqual((hp.model_dir, hp.output_data_dir), ("/m", "/o"))
        self.assertEqual(hp.checkpoint_dir, DEFAULT_CHECKPOINT_DIR)

    def test_defaults_without_env(self) -> None:
        hp = parse(env={})
        self.assertEqual(hp.train_dir, "/opt/ml/input/data/train")
        self.assertIsNone(hp.validation_dir)
        self.assertEqual(hp.model_dir, "/opt/ml/model")
        self.assertEqual(hp.checkpoint_dir, "/opt/ml/checkpoints")

    def test_checkpoint_dir_override(self) -> None:
        self.assertEqual(parse("--checkpoint_dir", "/tmp/ck").checkpoint_dir, "/tmp/ck")


class UnknownAndSagemakerKeysTest(unittest.TestCase):
    def test_unknown_hyperparameter_is_named(self) -> None:
        with self.assertRaisesRegex(ValueError, r"unknown hyperparameter lora_rank"):
            parse("--lora_rank", "8")

    def test_sagemaker_keys_ignored(self) -> None:
        hp = parse(
            "--sagemaker_program", "train.py", "--sagemaker_submit_directory", "s3://b/k.tar.gz",
            "--sagemaker_container_log_level", "20", "--sagemaker_region", "eu-west-1",
        )  # fmt: skip
        self.assertEqual(hp.recipe, "sft-lora")

    def test_hyperparameters_file_merged_cli_wins(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "hyperparameters.json")
            with open(path, "w", encoding="utf-8") as out:
                json.dump(
                    {
                        "base_model": '"org/from-file"',
                        "recipe": "sft-qlora",
                        "epochs": "3",
                        "sagemaker_program": '"train.py"',
                        "sagemaker_job_name": "job",
                    },
                    out,
                )
            hp = parse_hyperparameters(["--epochs", "2"], ENV, hyperparameters_file=path)
            self.assertEqual((hp.base_model, hp.recipe, hp.epochs), ("org/from-file", "sft-qlora", 2.0))
            missing = parse_hyperparameters(BASE, ENV, hyperparameters_file=os.path.join(tmp, "absent.json"))
            self.assertEqual(missing.recipe, "sft-lora")

    def test_unknown_key_in_file(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "hyperparameters.json")
            with open(path, "w", encoding="utf-8") as out:
                json.dump({"base_model": "m", "recipe": "sft-lora", "batch_size": "4"}, out)
            with self.assertRaisesRegex(ValueError, "unknown hyperparameter batch_size"):
                parse_hyperparameters([], ENV, hyperparameters_file=path)


class ValidationTest(unittest.TestCase):
    def test_required(self) -> None:
        with self.assertRaisesRegex(ValueError, "hyperparameter base_model: required"):
            parse_hyperparameters(["--recipe", "sft-lora"], ENV, hyperparameters_file=None)
        with self.assertRaisesRegex(ValueError, "hyperparameter recipe: required"):
            parse_hyperparameters(["--base_model", "m"], ENV, hyperparameters_file=None)

    def test_recipe_enum(self) -> None:
        with self.assertRaisesRegex(ValueError, r"hyperparameter recipe: expected one of sft-lora\|sft-qlora\|dpo-lora"):
            parse(recipe="ppo")

    def test_ranges_name_the_hyperparameter(self) -> None:
        cases = {
            "epochs": "0",
            "learning_rate": "-1e-4",
            "per_device_train_batch_size": "0",
            "gradient_accumulation_steps": "-2",
            "max_seq_length": "0",
            "lora_r": "0",
            "lora_alpha": "0",
            "lora_dropout": "1",
            "dpo_beta": "0",
            "seed": "-1",
            "save_steps": "0",
            "logging_steps": "0",
            "max_steps": "0",
        }
        for name, value in cases.items():
            with self.subTest(name=name), self.assertRaisesRegex(ValueError, f"hyperparameter {name}:"):
                parse(f"--{name}", value)

    def test_lora_rank_up_to_what_serving_loads(self) -> None:
        self.assertEqual(parse("--lora_r", str(MAX_LORA_RANK)).lora_r, MAX_LORA_RANK)
        with self.assertRaisesRegex(ValueError, rf"hyperparameter lora_r: must be in \[1, {MAX_LORA_RANK}\]"):
            parse("--lora_r", str(MAX_LORA_RANK + 1))

    def test_types(self) -> None:
        for name, value in {"lora_r": "2.5", "epochs": "one", "learning_rate": "nan", "seed": ""}.items():
            with self.subTest(name=name), self.assertRaises(ValueError):
                parse(f"--{name}", value)

    def test_dropout_lower_bound(self) -> None:
        with self.assertRaisesRegex(ValueError, r"lora_dropout: must be in \[0, 1\)"):
            parse("--lora_dropout", "-0.1")

    def test_empty_base_model(self) -> None:
        with self.assertRaisesRegex(ValueError, "hyperparameter base_model: must not be empty"):
            parse_hyperparameters(["--base_model", " ", "--recipe", "sft-lora"], ENV, hyperparameters_file=None)

    def test_cli_errors(self) -> None:
        with self.assertRaisesRegex(ValueError, "missing value"):
            parse_cli(["--epochs"])
        with self.assertRaisesRegex(ValueError, "unexpected argument"):
            parse_cli(["epochs", "1"])

    def test_every_name_is_known(self) -> None:
        expected = {
            "base_model", "recipe", "epochs", "learning_rate", "per_device_train_batch_size",
            "gradient_accumulation_steps", "max_seq_length", "lora_r", "lora_alpha", "lora_dropout",
            "dpo_beta", "seed", "save_steps", "logging_steps", "max_steps", "checkpoint_dir",
        }  # fmt: skip
        self.assertEqual(set(HYPERPARAMETER_NAMES), expected)


if __name__ == "__main__":
    unittest.main()
