"""Notices: what the user should read at leisure (images converted or skipped, a session that
could not be used, a model replaced, work that is not saved), kept until read.

The status bar's left side shows live figures that change many times a second; notices live on
its right side in a :class:`NoticeBar` of fixed size, which keeps every notice of the session
in a list the user can open, so none is lost under the next figure.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latentlab.untrusted import shorten

__all__ = ["NoticeBar"]

MAX_NOTICE = 500  # characters kept of one notice
MAX_KEPT = 500  # notices kept in the list; the oldest go first
WIDTH = 520  # pixels: fixed, so that neither a notice nor the live figures move the layout


class NoticeBar(QWidget):
    """The newest unread notice on one elided line (its whole text in the tooltip), a button
    listing every notice, and one that marks them read.

    Signals (GUI thread): ``noticed(text)`` each time a notice is added.
    """

    noticed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.notices: list[tuple[str, str]] = []  # (time, text), oldest first
        self.unread = 0
        self.text = QLabel()
        self.text.setObjectName("noticeText")
        # a long notice is elided, never widening the window or squeezing its panels
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text.setMinimumWidth(80)
        self.log_button = QToolButton()
        self.log_button.setObjectName("noticeLog")
        self.log_button.setToolTip("Every message of this session")
        self.log_button.clicked.connect(self.show_log)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setObjectName("noticeDismiss")
        self.dismiss_button.setText("✓")
        self.dismiss_button.setToolTip("Mark the messages read")
        self.dismiss_button.clicked.connect(self.mark_read)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.log_button)
        layout.addWidget(self.dismiss_button)
        self.setFixedWidth(WIDTH)
        self._refresh()

    def notify(self, text: str) -> None:
        """Add a notice: shown until read, and kept in the list."""
        text = shorten(" ".join(text.split()), MAX_NOTICE)
        self.notices = [*self.notices[-(MAX_KEPT - 1) :], (time.strftime("%H:%M:%S"), text)]
        self.unread += 1
        self._refresh()
        self.noticed.emit(text)

    def mark_read(self) -> None:
        self.unread = 0
        self._refresh()

    @property
    def shown(self) -> str:
        """The notice on show (empty when all are read)."""
        return self.notices[-1][1] if self.unread else ""

    def _refresh(self) -> None:
        shown = self.shown
        width = max(self.text.width(), 80)
        elided = QFontMetrics(self.text.font()).elidedText(
            shown, Qt.TextElideMode.ElideRight, width
        )
        self.text.setText(elided)
        self.text.setToolTip(shown)
        self.log_button.setText(f"Messages ({len(self.notices)})")
        self.log_button.setEnabled(bool(self.notices))
        self.dismiss_button.setEnabled(self.unread > 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._refresh()

    def show_log(self) -> None:
        """A window listing every notice of the session, newest last; reading them marks them
        read."""
        dialog = QDialog(self)
        dialog.setObjectName("noticeLogDialog")
        dialog.setWindowTitle("Messages")
        entries = QListWidget()
        entries.setWordWrap(True)
        entries.addItems([f"{when}  {text}" for when, text in self.notices])
        entries.scrollToBottom()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(entries)
        layout.addWidget(buttons)
        dialog.resize(640, 360)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.mark_read()
