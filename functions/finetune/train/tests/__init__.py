"""Tests of the fine-tuning entry point's pure modules (standard library only)."""
