"""A model described in words, once for both ``latentlab info`` and the app's model panel: the
facts (:func:`model_info`, plain JSON, what ``info --json`` prints) and their wording
(:func:`describe`), so that the two always say the same of a model."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentlab.modelfile import LoadedModel

__all__ = ["describe", "metric_text", "model_info"]


def model_info(loaded: LoadedModel) -> dict[str, Any]:
    """The facts about a loaded model as plain JSON values."""
    model, meta = loaded.model, loaded.meta
    return {
        "name": loaded.name,
        "path": str(loaded.path) if loaded.path else None,
        "family": model.family,
        "config": meta["config"],
        "image": meta["image"],
        "dataset": meta["dataset"],
        "training": meta["training"],
        "test_metric": meta["training"].get("test_metric"),
        "capabilities": sorted(model.capabilities),
        "latent_dim": model.latent_dim,
        "parameters": sum(p.numel() for p in model.parameters()),
        "attributes": sorted(loaded.attributes),
        "reference_size": 0 if loaded.reference is None else len(loaded.reference.latents),
        "created": meta["created"],
        "latentlab_version": meta["latentlab_version"],
    }


def metric_text(metric: dict[str, Any] | None) -> str:
    """A model file's test metric, e.g. "test bits/dim: 1.234", or "-" without one."""
    return "-" if not metric else f"{metric['name']}: {metric['value']:.3f}"


def describe(info: dict[str, Any], only: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(label, text) lines of the facts ``info`` (from :func:`model_info`): all of them, or
    those whose labels are in ``only``, always in the same order."""
    image, dataset, training = info["image"], info["dataset"], info["training"]
    labels = dataset.get("label_names") or []
    seconds = training.get("seconds")
    imported = training.get("imported_from")
    trained = (
        f"imported from {imported} ({training.get('format', '?')}): {training.get('note', '')}"
        if imported
        else f"{training.get('epochs', '?')} epochs, {training.get('steps', '?')} steps, "
        + (f"{seconds:.1f}" if isinstance(seconds, int | float) else "?")
        + f" s on {training.get('device', '?')}"
    )
    size = dataset.get("size")
    lines = {
        "name": info["name"],
        "path": info["path"] or "unsaved",
        "family": info["family"],
        "image": f"{image['channels']}x{image['height']}x{image['width']} "
        f"(channels x height x width), {image['levels']} levels",
        "dataset": f"{dataset.get('name', '?')}"
        + (f", {size} images" if size is not None else "")
        + (f", labels {' '.join(map(str, labels))}" if labels else ""),
        "training": trained,
        "command": training.get("command", "?"),
        "test metric": metric_text(info["test_metric"]),
        "capabilities": ", ".join(info["capabilities"]),
        "latent dim": str(info["latent_dim"]) if info["latent_dim"] is not None else "none",
        "parameters": f"{info['parameters']:,}",
        "attributes": ", ".join(info["attributes"]) or "none",
        "reference set": f"{info['reference_size']} images",
        "config": ", ".join(f"{k}={v}" for k, v in info["config"].items()),
        "created": f"{info['created']} by LatentLab {info['latentlab_version']}",
    }
    return [(label, text) for label, text in lines.items() if only is None or label in only]
