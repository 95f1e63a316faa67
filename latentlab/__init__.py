"""LatentLab: explore the latent spaces of deep generative models."""

__version__ = "0.1.0"
