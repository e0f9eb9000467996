"""Evaluation metrics for generated frames (METHOD.md §5, the paper §7)."""
