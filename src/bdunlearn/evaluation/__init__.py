"""Evaluation metrics shared by the steps that score models and detectors."""
