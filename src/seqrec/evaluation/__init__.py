"""Metrics as pure functions, the full-ranking protocol, and statistics."""

from seqrec.evaluation.metrics import evaluate_scores

__all__ = ["evaluate_scores"]
