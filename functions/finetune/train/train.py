"""Fine-tunes a causal language model with LoRA on a SageMaker training job, and saves the adapter.

Entry point of the job (`sagemaker_program`). Recipes: `sft-lora` and `sft-qlora` (TRL `SFTTrainer`,
the base model in 16 bits or in 4 bits) and `dpo-lora` (TRL `DPOTrainer`). Training resumes from the
latest complete checkpoint in the checkpoint directory (a managed spot job restarted after an
interruption finds its checkpoints there). Only the LoRA adapter is saved to the model directory:
`adapter_model.safetensors`, `adapter_config.json` and the tokenizer files. The final metrics go to
`metrics.json` in the output data directory, and every log event prints `llmops_metric` lines that
the job's metric definitions read.

torch, transformers, datasets, PEFT and TRL are imported inside the functions that use them, so this
module imports without them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from llmops_train.args import DEFAULT_HYPERPARAMETERS_FILE, Hyperparameters, parse_hyperparameters
from llmops_train.checkpoints import find_latest_checkpoint
from llmops_train.data import CONVERSATIONAL, PROMPT_COMPLETION, TrainingData, load_training_data
from llmops_train.metrics import format_metric_lines

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
REQUIRED_ADAPTER_FILES: tuple[str, ...] = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)
"""Files the model directory must hold after training."""

FORBIDDEN_MODEL_FILES: tuple[str, ...] = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.bin",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
)
"""Files that must not be in the model directory: full weights, pickles and optimizer state."""

FAILURE_FILE = "/opt/ml/output/failure"
"""Where SageMaker reads the failure reason of a job."""

LORA_TARGET_MODULES = "all-linear"

CONFIG_ALIASES: dict[str, tuple[str, ...]] = {
    "max_length": ("max_seq_length",),
    "eval_strategy": ("evaluation_strategy",),
}
"""Names a setting had in older TRL/transformers releases, tried when the current name is unknown."""


def supported_kwargs(
    accepted: Iterable[str],
    wanted: Mapping[str, Any],
    aliases: Mapping[str, Sequence[str]] = CONFIG_ALIASES,
) -> tuple[dict[str, Any], list[str]]:
    """The settings a config class accepts, under the name it knows them by, and the ones it does not.

    `accepted` is the class's field names. A setting whose name is unknown is passed under its first
    known alias; a setting with no known name is returned in the second list.
    """
    names = set(accepted)
    kwargs: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in wanted.items():
        if key in names:
            kwargs[key] = value
            continue
        alias = next((a for a in aliases.get(key, ()) if a in names), None)
        if alias is None:
            dropped.append(key)
        else:
            kwargs[alias] = value
    return kwargs, dropped


def check_adapter_dir(model_dir: str | os.PathLike[str]) -> list[str]:
    """What is wrong with a saved adapter directory: missing adapter files, full weights or pickles.

    An empty list means the directory holds a LoRA adapter and nothing that should not be there.
    """
    root = Path(model_dir)
    problems = [f"missing {name}" for name in REQUIRED_ADAPTER_FILES if not (root / name).is_file()]
    problems += [f"unexpected {name}" for name in FORBIDDEN_MODEL_FILES if (root / name).exists()]
    problems += [
        f"unexpected {p.name}"
        for p in sorted(root.glob("*.safetensors"))
        if p.name != ADAPTER_WEIGHTS and p.name not in FORBIDDEN_MODEL_FILES
    ]
    problems += [f"unexpected directory {p.name}" for p in sorted(root.glob("checkpoint-*")) if p.is_dir()]
    return problems


def training_settings(hp: Hyperparameters, has_validation: bool, bf16: bool, fp16: bool) -> dict[str, Any]:
    """The Trainer settings of a job (TRL config fields; unsupported ones are dropped later)."""
    settings: dict[str, Any] = {
        "output_dir": hp.checkpoint_dir,
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps,
        "learning_rate": hp.learning_rate,
        "per_device_train_batch_size": hp.per_device_train_batch_size,
        "per_device_eval_batch_size": hp.per_device_train_batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.03,
        "logging_strategy": "steps",
        "logging_steps": hp.logging_steps,
        "save_strategy": "steps",
        "save_steps": hp.save_steps,
        "save_total_limit": 2,
        "eval_strategy": "steps" if has_validation else "no",
        "eval_steps": hp.save_steps if has_validation else None,
        "seed": hp.seed,
        "bf16": bf16,
        "fp16": fp16,
        "gradient_checkpointing": True,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
        "report_to": "none",
        "max_length": hp.max_seq_length,
    }
    if hp.is_dpo:
        settings["beta"] = hp.dpo_beta
        settings["max_prompt_length"] = max(1, hp.max_seq_length // 2)
    return settings


def write_failure(message: str, path: str = FAILURE_FILE) -> None:
    """Writes the failure reason SageMaker reports, when the job's output directory exists."""
    target = Path(path)
    if target.parent.is_dir():
        target.write_text(message[:1000], encoding="utf-8")


def make_metric_callback(emit: Callable[[str], None] | None = None) -> Any:
    """A `transformers.TrainerCallback` that prints the metric lines of every log event."""
    from transformers import TrainerCallback

    out = emit or (lambda line: print(line, flush=True))

    class MetricLogCallback(TrainerCallback):
        """Prints `llmops_metric <name>=<value>` for each reported value of a log event."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if state.is_world_process_zero and logs:
                for line in format_metric_lines(logs):
                    out(line)

    return MetricLogCallback()


def _field_names(config_class: type) -> list[str]:
    return [f.name for f in dataclasses.fields(config_class)]


def _config(config_class: type, settings: Mapping[str, Any]) -> Any:
    kwargs, dropped = supported_kwargs(_field_names(config_class), settings)
    if dropped:
        print(f"llmops_train: {config_class.__name__} does not take {', '.join(dropped)}; left out", flush=True)
    return config_class(**kwargs)


def _load_model(hp: Hyperparameters, dtype: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"torch_dtype": dtype}
    if hp.is_qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()} if torch.cuda.is_available() else None
    model = AutoModelForCausalLM.from_pretrained(hp.base_model, **kwargs)
    model.config.use_cache = False
    return model


def _trainer(trainer_class: type, **kwargs: Any) -> Any:
    parameters = inspect.signature(trainer_class.__init__).parameters
    if "processing_class" not in parameters and "tokenizer" in parameters:
        kwargs["tokenizer"] = kwargs.pop("processing_class")
    return trainer_class(**kwargs)


def save_adapter(model: Any, tokenizer: Any, model_dir: str) -> None:
    """Saves the LoRA adapter and the tokenizer, and nothing else, to `model_dir`."""
    os.makedirs(model_dir, exist_ok=True)
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    readme = Path(model_dir) / "README.md"
    if readme.is_file():
        readme.unlink()
    problems = check_adapter_dir(model_dir)
    if problems:
        raise RuntimeError(f"{model_dir}: not a LoRA adapter directory: {'; '.join(problems)}")


def run_training(hp: Hyperparameters, data: TrainingData) -> dict[str, Any]:
    """Trains the recipe on the data, saves the adapter, and returns the final metrics."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, set_seed

    set_seed(hp.seed)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    fp16 = cuda and not bf16
    dtype = torch.bfloat16 if bf16 else (torch.float16 if fp16 else torch.float32)

    tokenizer = AutoTokenizer.from_pretrained(hp.base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if data.format == CONVERSATIONAL and not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"base_model {hp.base_model}: the tokenizer has no chat template, so chat records cannot be "
            "formatted; use an instruct model or completion records {prompt, completion}"
        )
    model = _load_model(hp, dtype)
    peft_config = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=LORA_TARGET_MODULES,
        bias="none",
        task_type="CAUSAL_LM",
    )
    train_dataset = Dataset.from_list(data.train)
    eval_dataset = Dataset.from_list(data.validation) if data.validation else None
    settings = training_settings(hp, eval_dataset is not None, bf16, fp16)

    if hp.is_dpo:
        from trl import DPOConfig, DPOTrainer

        trainer_class, config = DPOTrainer, _config(DPOConfig, settings)
    else:
        from trl import SFTConfig, SFTTrainer

        if data.format == PROMPT_COMPLETION and "completion_only_loss" not in _field_names(SFTConfig):
            raise RuntimeError(
                "the installed trl does not train on prompt-completion records; install the version of "
                "requirements.txt"
            )
        trainer_class, config = SFTTrainer, _config(SFTConfig, settings)
    trainer = _trainer(
        trainer_class,
        model=model,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[make_metric_callback()],
    )

    resume = find_latest_checkpoint(hp.checkpoint_dir)
    print(f"llmops_train resume_from_checkpoint={resume or 'none'}", flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    metrics: dict[str, Any] = dict(result.metrics)
    if eval_dataset is not None:
        metrics.update(trainer.evaluate())
    if trainer.is_world_process_zero():
        save_adapter(trainer.model, tokenizer, hp.model_dir)
        write_final_metrics(hp, data, metrics)
    return metrics


def write_final_metrics(hp: Hyperparameters, data: TrainingData, metrics: Mapping[str, Any]) -> str:
    """Writes `metrics.json` (the final metrics and what was trained) to the output data directory."""
    os.makedirs(hp.output_data_dir, exist_ok=True)
    path = os.path.join(hp.output_data_dir, "metrics.json")
    document = {
        "recipe": hp.recipe,
        "baseModel": hp.base_model,
        "format": data.format,
        "records": {"train": len(data.train), "validation": len(data.validation)},
        "metrics": {
            k: v
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        },
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, allow_nan=False)
    return path


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    hyperparameters_file: str | None = DEFAULT_HYPERPARAMETERS_FILE,
    failure_file: str = FAILURE_FILE,
) -> int:
    """Runs the job: hyperparameters, data, training, adapter. Returns the process exit code."""
    try:
        hp = parse_hyperparameters(sys.argv[1:] if argv is None else argv, env, hyperparameters_file)
        data = load_training_data(hp.recipe, hp.train_dir, hp.validation_dir)
        print(
            f"llmops_train recipe={hp.recipe} base_model={hp.base_model} format={data.format} "
            f"train_records={len(data.train)} validation_records={len(data.validation)}",
            flush=True,
        )
        run_training(hp, data)
    except Exception as error:  # the reason goes to SageMaker, the trace to the log
        traceback.print_exc()
        write_failure(f"{type(error).__name__}: {error}", failure_file)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
