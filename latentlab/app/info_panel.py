"""Model information: what it is, what it was trained on, how good it is."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from latentlab.modelfile import LoadedModel

__all__ = ["InfoPanel", "describe"]


def describe(loaded: LoadedModel) -> list[tuple[str, str]]:
    """(field, value) rows shown for a model."""
    model, meta = loaded.model, loaded.meta
    c, h, w = model.image_shape
    training = meta.get("training", {})
    rows = [
        ("model", loaded.name),
        ("family", model.family),
        ("image", f"{c}x{h}x{w}, {model.levels} levels"),
        ("latent", str(model.latent_dim) if model.latent_dim is not None else "none"),
        ("parameters", f"{sum(p.numel() for p in model.parameters()):,}"),
        ("dataset", str(meta.get("dataset", {}).get("name", "?"))),
    ]
    metric = training.get("test_metric")
    if metric:
        rows.append((metric["name"], f"{metric['value']:.4g}"))
    if "epochs" in training:
        rows.append(
            (
                "trained",
                f"{training['epochs']} epochs, {training.get('seconds', 0):.0f} s "
                f"on {training.get('device', '?')}",
            )
        )
    if loaded.attributes:
        rows.append(("attributes", ", ".join(sorted(loaded.attributes))))
    return rows


class InfoPanel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("infoPanel")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText("<i>no model open</i>")

    def show_model(self, loaded: LoadedModel) -> None:
        rows = "".join(
            f"<tr><td style='color:#666;padding-right:8px'>{escape(k)}</td>"
            f"<td>{escape(v)}</td></tr>"
            for k, v in describe(loaded)
        )
        self.setText(f"<table>{rows}</table>")
