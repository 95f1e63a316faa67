"""Training scripts, one per model family, sharing training.common."""
