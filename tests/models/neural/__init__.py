"""Tests of the neural networks on the shared trainer."""
