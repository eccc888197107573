"""Reading curated datasets: both finetune forms, preference pairs, bad lines, recipe mismatches."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import unittest
from pathlib import Path

from llmops_train.data import (
    CONVERSATIONAL,
    PREFERENCE,
    PROMPT_COMPLETION,
    DataError,
    data_files,
    load_training_data,
)

CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
}
COMPLETION = {"prompt": "2 + 2 =", "completion": "4"}
PAIR = {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_records(path: Path, records: list[dict]) -> Path:
    return write_lines(path, [json.dumps(r) for r in records])


class DataTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        self.train = self.root / "train"
        self.validation = self.root / "validation"

    def tearDown(self) -> None:
        self._tmp.cleanup()


class FinetuneTest(DataTestCase):
    def test_completion_form_stays_prompt_completion(self) -> None:
        write_records(self.train / "train.jsonl", [COMPLETION, {"prompt": "Hi", "completion": "Hello"}])
        write_records(self.validation / "validation.jsonl", [COMPLETION])
        data = load_training_data("sft-lora", self.train, self.validation)
        self.assertEqual(data.format, PROMPT_COMPLETION)
        self.assertEqual(data.train, [COMPLETION, {"prompt": "Hi", "completion": "Hello"}])
        self.assertEqual(data.validation, [COMPLETION])

    def test_chat_form_is_conversational(self) -> None:
        write_records(self.train / "train.jsonl", [CHAT, CHAT])
        data = load_training_data("sft-qlora", self.train)
        self.assertEqual(data.format, CONVERSATIONAL)
        self.assertEqual(data.train, [CHAT, CHAT])
        self.assertEqual(data.validation, [])

    def test_mixed_forms_become_conversational(self) -> None:
        write_records(self.train / "train.jsonl", [CHAT])
        write_records(self.validation / "validation.jsonl", [COMPLETION])
        data = load_training_data("sft-lora", self.train, self.validation)
        self.assertEqual(data.format, CONVERSATIONAL)
        self.assertEqual(
            data.validation,
            [{"messages": [{"role": "user", "content": "2 + 2 ="}, {"role": "assistant", "content": "4"}]}],
        )

    def test_dataprep_layout_several_files_gzip_and_manifest(self) -> None:
        version = self.train / "datasets" / "finetune" / "faq" / "v000001"
        write_records(version / "train.jsonl", [COMPLETION])
        write_lines(version / "manifest.json", ['{"status": "READY"}'])
        with gzip.open(self.train / "extra.jsonl.gz", "wt", encoding="utf-8") as out:
            out.write(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
        write_lines(self.train / "notes.txt", ["not data"])
        self.assertEqual(
            [p.name for p in data_files(self.train)], ["train.jsonl", "extra.jsonl.gz"]
        )
        data = load_training_data("sft-lora", self.train)
        self.assertEqual(len(data.train), 2)

    def test_blank_lines_and_bom_are_skipped(self) -> None:
        write_lines(self.train / "train.jsonl", ["\ufeff" + json.dumps(COMPLETION), "", "   ", json.dumps(COMPLETION)])
        self.assertEqual(len(load_training_data("sft-lora", self.train).train), 2)

    def test_empty_validation_channel_is_allowed(self) -> None:
        write_records(self.train / "train.jsonl", [COMPLETION])
        write_lines(self.validation / "validation.jsonl", [])
        self.assertEqual(load_training_data("sft-lora", self.train, self.validation).validation, [])

    def test_empty_train_channel_is_an_error(self) -> None:
        write_lines(self.train / "train.jsonl", [])
        with self.assertRaisesRegex(DataError, "no records in the train channel"):
            load_training_data("sft-lora", self.train)

    def test_missing_channel_is_an_error(self) -> None:
        with self.assertRaisesRegex(DataError, "channel directory does not exist"):
            load_training_data("sft-lora", self.root / "absent")


class BadLinesTest(DataTestCase):
    def assertBadLine(self, lines: list[str], line_no: int, message: str, recipe: str = "sft-lora") -> None:
        path = write_lines(self.train / "train.jsonl", lines)
        with self.assertRaises(DataError) as caught:
            load_training_data(recipe, self.train)
        text = str(caught.exception)
        self.assertIn(f"{path}:{line_no}:", text)
        self.assertIn(message, text)

    def test_invalid_json_names_file_and_line(self) -> None:
        self.assertBadLine([json.dumps(COMPLETION), "", '{"prompt": "x", "completion":'], 3, "invalid JSON")

    def test_not_an_object(self) -> None:
        self.assertBadLine([json.dumps(COMPLETION), "[1, 2]"], 2, "expected a JSON object, got list")

    def test_extra_key(self) -> None:
        self.assertBadLine([json.dumps({**COMPLETION, "metadata": {}})], 1, "metadata: unknown key")

    def test_empty_completion(self) -> None:
        self.assertBadLine([json.dumps({"prompt": "x", "completion": ""})], 1, "completion: expected a non-empty string")

    def test_chat_rules(self) -> None:
        cases = [
            ({"messages": []}, "expected a non-empty list"),
            ({"messages": [{"role": "user", "content": "hi"}]}, "the last message must be from the assistant"),
            ({"messages": [{"role": "assistant", "content": "hi"}]}, "at least one user message"),
            ({"messages": [{"role": "bot", "content": "hi"}]}, "messages.0.role: expected one of"),
            ({"messages": [{"role": "user", "content": ""}]}, "messages.0.content"),
            ({"messages": [{"role": "user", "content": "a", "name": "x"}]}, "name: unknown key"),
        ]
        for record, message in cases:
            with self.subTest(message=message):
                self.assertBadLine([json.dumps(CHAT), json.dumps(record)], 2, message)

    def test_unrecognised_record(self) -> None:
        self.assertBadLine([json.dumps({"text": "x"})], 1, "expected a chat record")

    def test_invalid_utf8(self) -> None:
        path = self.train / "train.jsonl"
        path.parent.mkdir(parents=True)
        path.write_bytes(json.dumps(COMPLETION).encode() + b"\n" + b'{"prompt": "\xff"}\n')
        with self.assertRaisesRegex(DataError, "invalid UTF-8"):
            load_training_data("sft-lora", self.train)


class PreferenceTest(DataTestCase):
    def test_preference_pairs_for_dpo(self) -> None:
        write_records(self.train / "train.jsonl", [PAIR, {"prompt": "p", "chosen": "a", "rejected": "b"}])
        write_records(self.validation / "validation.jsonl", [PAIR])
        data = load_training_data("dpo-lora", self.train, self.validation)
        self.assertEqual(data.format, PREFERENCE)
        self.assertEqual(data.train[0], PAIR)
        self.assertEqual(data.validation, [PAIR])

    def test_equal_chosen_and_rejected(self) -> None:
        path = write_records(self.train / "train.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "a"}])
        with self.assertRaisesRegex(DataError, f"{path}:1: rejected: must differ from chosen"):
            load_training_data("dpo-lora", self.train)

    def test_metadata_is_accepted_and_dropped(self) -> None:
        provenance = {"source": "feedback", "kind": "correction", "chosenInteraction": None, "promptVersion": 3}
        write_records(self.train / "train.jsonl", [{**PAIR, "metadata": provenance}, PAIR])
        write_records(self.validation / "validation.jsonl", [{**PAIR, "metadata": {}}])
        data = load_training_data("dpo-lora", self.train, self.validation)
        self.assertEqual(data.train, [PAIR, PAIR])
        self.assertEqual(data.validation, [PAIR])

    def test_metadata_must_be_an_object(self) -> None:
        path = write_records(self.train / "train.jsonl", [{**PAIR, "metadata": "feedback"}])
        with self.assertRaisesRegex(DataError, f"{path}:1: metadata: expected an object"):
            load_training_data("dpo-lora", self.train)

    def test_missing_rejected(self) -> None:
        write_records(self.train / "train.jsonl", [{"prompt": "p", "chosen": "a"}])
        with self.assertRaisesRegex(DataError, "rejected: expected a non-empty string"):
            load_training_data("dpo-lora", self.train)


class RecipeMismatchTest(DataTestCase):
    def test_preference_data_with_sft_recipe(self) -> None:
        path = write_records(self.train / "train.jsonl", [PAIR])
        with self.assertRaises(DataError) as caught:
            load_training_data("sft-lora", self.train)
        self.assertIn(f"{path}:1:", str(caught.exception))
        self.assertIn("use recipe dpo-lora", str(caught.exception))

    def test_finetune_data_with_dpo_recipe(self) -> None:
        for record in (CHAT, COMPLETION):
            with self.subTest(record=record):
                write_records(self.train / "train.jsonl", [record])
                with self.assertRaisesRegex(DataError, "recipe dpo-lora trains on preference records"):
                    load_training_data("dpo-lora", self.train)

    def test_mismatch_in_validation_channel(self) -> None:
        write_records(self.train / "train.jsonl", [COMPLETION])
        path = write_records(self.validation / "validation.jsonl", [COMPLETION, PAIR])
        with self.assertRaisesRegex(DataError, f"{path}:2: recipe sft-lora"):
            load_training_data("sft-lora", self.train, self.validation)

    def test_unknown_recipe(self) -> None:
        write_records(self.train / "train.jsonl", [COMPLETION])
        with self.assertRaisesRegex(ValueError, "recipe: expected one of"):
            load_training_data("ppo", self.train)


if __name__ == "__main__":
    unittest.main()
