"""Pure helpers of the fine-tuning entry point: hyperparameters, data, checkpoints and metric lines.

Nothing in this package imports torch, transformers, TRL or PEFT, so it runs and is tested with the
Python standard library alone.
"""
