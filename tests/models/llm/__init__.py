"""Tests of the LLM-wave pieces: item text, text encoders and their cache."""
