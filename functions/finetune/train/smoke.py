"""GPU smoke test of the fine-tuning entry point.

Trains a tiny model for 5 steps with the `sft-lora` recipe on a few records written to a temporary
`train` channel (chat and completion records, or completion records alone for a model without a chat
template), through `train.main` (the code path of a SageMaker job), then checks that the model
directory holds a LoRA adapter and nothing else, and that a resumable checkpoint was written.

Without a CUDA device, or without torch, transformers, peft and trl, it prints one line saying the
smoke was not run and exits 0.

    python3 smoke.py [--model HuggingFaceTB/SmolLM2-135M-Instruct] [--steps 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LIBRARIES = ("torch", "transformers", "datasets", "peft", "trl")

NOT_RUN_NO_LIBRARIES = "SMOKE NOT RUN: no training libraries (missing: {missing}); nothing was trained"
NOT_RUN_NO_GPU = "SMOKE NOT RUN: no GPU machine (torch.cuda.is_available() is false); nothing was trained"
PASSED = "SMOKE PASSED: {steps} steps of sft-lora on {model}; adapter files: {files}"

RECORDS = [
    {"messages": [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}]},
    {"prompt": "Name a primary colour.", "completion": "Red."},
    {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    {"prompt": "Opposite of hot?", "completion": "Cold."},
    {"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"}]},
    {"prompt": "How many legs has a spider?", "completion": "Eight."},
    {"messages": [{"role": "user", "content": "Spell cat."}, {"role": "assistant", "content": "C-A-T"}]},
    {"prompt": "First letter of the alphabet?", "completion": "A."},
]


def missing_libraries() -> list[str]:
    """The training libraries that cannot be imported here."""
    return [name for name in LIBRARIES if importlib.util.find_spec(name) is None]


def run(model: str, steps: int) -> int:
    """Trains, checks the adapter and the checkpoint, and returns the exit code."""
    import train
    from llmops_train.checkpoints import find_latest_checkpoint

    with tempfile.TemporaryDirectory(prefix="llmops-smoke-") as tmp:
        root = Path(tmp)
        channel, model_dir, output, checkpoints = (root / n for n in ("train", "model", "output", "ckpt"))
        channel.mkdir()
        from transformers import AutoTokenizer

        chat = bool(getattr(AutoTokenizer.from_pretrained(model), "chat_template", None))
        records = RECORDS if chat else [r for r in RECORDS if "prompt" in r]
        with open(channel / "train.jsonl", "w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
        argv = [
            "--base_model", model,
            "--recipe", "sft-lora",
            "--max_steps", str(steps),
            "--save_steps", str(steps),
            "--logging_steps", "1",
            "--per_device_train_batch_size", "2",
            "--gradient_accumulation_steps", "1",
            "--max_seq_length", "128",
            "--checkpoint_dir", str(checkpoints),
            "--sagemaker_program", "train.py",
        ]  # fmt: skip
        env = {"SM_CHANNEL_TRAIN": str(channel), "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output)}
        code = train.main(argv, env, hyperparameters_file=None, failure_file=str(root / "failure"))
        if code != 0:
            print(f"SMOKE FAILED: train.main exited {code}")
            return 1
        problems = train.check_adapter_dir(model_dir)
        if problems:
            print(f"SMOKE FAILED: {model_dir}: {'; '.join(problems)}")
            return 1
        checkpoint = find_latest_checkpoint(checkpoints)
        if checkpoint is None or not checkpoint.endswith(f"checkpoint-{steps}"):
            print(f"SMOKE FAILED: expected checkpoint-{steps} in {checkpoints}, found {checkpoint}")
            return 1
        if not (output / "metrics.json").is_file():
            print(f"SMOKE FAILED: no metrics.json in {output}")
            return 1
        files = ", ".join(sorted(p.name for p in model_dir.iterdir()))
        print(PASSED.format(steps=steps, model=model, files=files))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parses the options and runs the smoke when a GPU and the libraries are here."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"Hugging Face model id (default {DEFAULT_MODEL})")
    parser.add_argument("--steps", type=int, default=5, help="training steps (default 5)")
    options = parser.parse_args(argv)
    missing = missing_libraries()
    if missing:
        print(NOT_RUN_NO_LIBRARIES.format(missing=", ".join(missing)))
        return 0
    import torch

    if not torch.cuda.is_available():
        print(NOT_RUN_NO_GPU)
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return run(options.model, options.steps)


if __name__ == "__main__":
    sys.exit(main())
