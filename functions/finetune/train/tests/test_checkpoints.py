"""Finding the checkpoint to resume from."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

from llmops_train.checkpoints import find_latest_checkpoint


def checkpoint(root: Path, name: str, complete: bool = True) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if complete:
        (path / "trainer_state.json").write_text('{"global_step": 1}', encoding="utf-8")
    return path


class FindLatestCheckpointTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_missing_or_empty_dir(self) -> None:
        self.assertIsNone(find_latest_checkpoint(self.root / "absent"))
        self.assertIsNone(find_latest_checkpoint(self.root))

    def test_highest_step_by_number_not_name(self) -> None:
        checkpoint(self.root, "checkpoint-50")
        checkpoint(self.root, "checkpoint-100")
        checkpoint(self.root, "checkpoint-9")
        self.assertEqual(find_latest_checkpoint(self.root), str(self.root / "checkpoint-100"))

    def test_incomplete_and_odd_entries_are_skipped(self) -> None:
        checkpoint(self.root, "checkpoint-100")
        checkpoint(self.root, "checkpoint-150", complete=False)
        checkpoint(self.root, "checkpoint-latest")
        checkpoint(self.root, "checkpoint-200.tmp")
        checkpoint(self.root, "old-checkpoint-300")
        checkpoint(self.root, "checkpoint--5")
        (self.root / "checkpoint-400").write_text("a file, not a directory", encoding="utf-8")
        self.assertEqual(find_latest_checkpoint(self.root), str(self.root / "checkpoint-100"))

    def test_only_incomplete(self) -> None:
        checkpoint(self.root, "checkpoint-10", complete=False)
        self.assertIsNone(find_latest_checkpoint(str(self.root)))


if __name__ == "__main__":
    unittest.main()
