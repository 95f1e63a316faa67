"""Two buttons that choose an image for a family panel to work on: the image shown in the main
window, or an image file (read on the worker and converted to the model's shape)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QPushButton, QVBoxLayout, QWidget

from latentlab.app.family_panel import PanelHost
from latentlab.app.file_filters import IMAGE_FILTER

# Model code (torch) is imported in the methods that submit it: the window shows before torch
# has loaded (latentlab.app.model_code).

__all__ = ["ImageSource"]


class ImageSource(QWidget):
    """Signals (GUI thread): ``imageChosen(image)``, ``C,H,W`` float in [0, 1]."""

    imageChosen = Signal(object)

    def __init__(self, host: PanelHost, purpose: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        use_current = QPushButton("Use current image")
        use_current.setObjectName("useCurrentImage")
        use_current.setToolTip(f"{purpose} the image shown above (click a sample to choose one)")
        use_current.clicked.connect(self.use_current_image)
        open_file = QPushButton("Open image…")
        open_file.setToolTip(f"{purpose} an image file (converted to the model's shape)")
        open_file.clicked.connect(self.choose_file)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(use_current)
        layout.addWidget(open_file)

    def use_current_image(self) -> None:
        image = self.host.current_image()
        if image is not None:
            self.imageChosen.emit(image)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", IMAGE_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> None:
        from latentlab.explore import ops

        self.host.submit(ops.read_image, path, watched=True).finished.connect(self._on_read)

    def _on_read(self, result: tuple[np.ndarray, list[str]]) -> None:
        image, notices = result
        self.imageChosen.emit(image)
        if notices:
            self.host.show_status("; ".join(notices), 8000)
