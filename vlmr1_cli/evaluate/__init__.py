"""Evaluation of checkpoints: batched generation, resumable predictions, task scorers."""
