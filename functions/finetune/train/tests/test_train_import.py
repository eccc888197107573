"""The entry point imports and fails cleanly without the training libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

TRAIN_DIR = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "bitsandbytes")


class ImportTest(unittest.TestCase):
    def test_import_loads_no_training_library(self) -> None:
        code = (
            "import sys, train; "
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
            "assert not heavy, heavy; "
            "assert callable(train.main) and callable(train.run_training); print('imported')"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=TRAIN_DIR, capture_output=True, text=True, timeout=30
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("imported", result.stdout)


class HelpersTest(unittest.TestCase):
    def setUp(self) -> None:
        import train

        self.train = train
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_supported_kwargs_uses_aliases_and_drops_unknown(self) -> None:
        kwargs, dropped = self.train.supported_kwargs(
            ["output_dir", "max_seq_length", "evaluation_strategy"],
            {"output_dir": "/c", "max_length": 512, "eval_strategy": "no", "beta": 0.1},
        )
        self.assertEqual(kwargs, {"output_dir": "/c", "max_seq_length": 512, "evaluation_strategy": "no"})
        self.assertEqual(dropped, ["beta"])
        kwargs, dropped = self.train.supported_kwargs(["max_length", "max_seq_length"], {"max_length": 64})
        self.assertEqual((kwargs, dropped), ({"max_length": 64}, []))

    def test_check_adapter_dir(self) -> None:
        model = self.root / "model"
        model.mkdir()
        self.assertEqual(
            self.train.check_adapter_dir(model),
            ["missing adapter_model.safetensors", "missing adapter_config.json"],
        )
        for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "tokenizer_config.json"):
            (model / name).write_text("x", encoding="utf-8")
        self.assertEqual(self.train.check_adapter_dir(model), [])
        (model / "model.safetensors").write_text("x", encoding="utf-8")
        (model / "model-00001-of-00002.safetensors").write_text("x", encoding="utf-8")
        (model / "training_args.bin").write_text("x", encoding="utf-8")
        self.assertEqual(
            self.train.check_adapter_dir(model),
            ["unexpected model.safetensors", "unexpected training_args.bin", "unexpected model-00001-of-00002.safetensors"],
        )

    def test_training_settings(self) -> None:
        from llmops_train.args import parse_hyperparameters

        argv = ["--base_model", "m", "--recipe", "dpo-lora", "--max_seq_length", "1024", "--checkpoint_dir", "/ck"]
        hp = parse_hyperparameters(argv, {}, hyperparameters_file=None)
        settings = self.train.training_settings(hp, has_validation=True, bf16=True, fp16=False)
        self.assertEqual(settings["output_dir"], "/ck")
        self.assertEqual((settings["beta"], settings["max_length"], settings["max_prompt_length"]), (0.1, 1024, 512))
        self.assertEqual((settings["eval_strategy"], settings["eval_steps"]), ("steps", 50))
        self.assertEqual(settings["learning_rate"], 5e-6)
        sft = parse_hyperparameters(["--base_model", "m", "--recipe", "sft-lora"], {}, hyperparameters_file=None)
        plain = self.train.training_settings(sft, has_validation=False, bf16=False, fp16=False)
        self.assertEqual(plain["eval_strategy"], "no")
        self.assertNotIn("beta", plain)

    def test_main_reports_bad_input_as_failure(self) -> None:
        failure = self.root / "failure"
        channel = self.root / "train"
        channel.mkdir()
        (channel / "train.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
        env = {"SM_CHANNEL_TRAIN": str(channel), "SM_MODEL_DIR": str(self.root / "model")}
        with open(os.devnull, "w") as sink:
            stderr, sys.stderr = sys.stderr, sink
            try:
                code = self.train.main(
                    ["--base_model", "m", "--recipe", "sft-lora"], env, None, failure_file=str(failure)
                )
            finally:
                sys.stderr = stderr
        self.assertEqual(code, 1)
        self.assertIn("use recipe dpo-lora", failure.read_text(encoding="utf-8"))
        self.assertFalse((self.root / "model").exists())

    def test_write_final_metrics(self) -> None:
        from llmops_train.args import parse_hyperparameters
        from llmops_train.data import TrainingData

        env = {"SM_OUTPUT_DATA_DIR": str(self.root / "out")}
        hp = parse_hyperparameters(["--base_model", "m", "--recipe", "sft-lora"], env, hyperparameters_file=None)
        data = TrainingData(train=[{"prompt": "a", "completion": "b"}], validation=[], format="prompt-completion")
        path = self.train.write_final_metrics(hp, data, {"train_loss": 0.5, "eval_loss": float("nan"), "x": "s"})
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        self.assertEqual(document["metrics"], {"train_loss": 0.5})
        self.assertEqual(document["records"], {"train": 1, "validation": 0})


if __name__ == "__main__":
    unittest.main()
