"""Checkpoints the Trainer writes to the checkpoint directory, which SageMaker syncs with S3."""

from __future__ import annotations

import os
import re
from pathlib import Path

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-([0-9]+)$")
"""The name the Trainer gives a checkpoint: `checkpoint-<global step>`."""

COMPLETE_MARKER = "trainer_state.json"
"""The file the Trainer writes last in a checkpoint; a checkpoint without it is incomplete."""


def find_latest_checkpoint(checkpoint_dir: str | os.PathLike[str]) -> str | None:
    """The path of the complete checkpoint with the highest step, or None when there is none.

    A missing directory has no checkpoint. Entries that are not directories, whose name is not
    `checkpoint-<digits>`, or that lack `trainer_state.json` (a save cut short by a spot interruption)
    are skipped.
    """
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for entry in root.iterdir():
        match = CHECKPOINT_PATTERN.match(entry.name)
        if match is None or not entry.is_dir() or not (entry / COMPLETE_MARKER).is_file():
            continue
        step = int(match.group(1))
        if best is None or step > best[0]:
            best = (step, entry)
    return None if best is None else str(best[1])
