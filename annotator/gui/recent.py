"""File > Open Recent: the last folders opened, most recent first, kept in the app settings.

``AppSettings.recent`` holds them one per line; ``AppSettings.last_path`` is the last
image shown, so a relaunch opens its folder on that image.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMenu

RECENT_MAX = 8


def recent_list(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def remember(text: str, folder: str) -> str:
    """The recent list *text* with *folder* first (once), at most RECENT_MAX entries."""
    folders = [folder] + [f for f in recent_list(text) if f != folder]
    return "\n".join(folders[:RECENT_MAX])


class RecentMenu(QMenu):
    """Filled each time it opens, so it always shows the settings as they are."""

    def __init__(self, window, parent=None):
        super().__init__("Open &Recent", parent)
        self._window = window
        self.aboutToShow.connect(self._fill)

    def _fill(self) -> None:
        self.clear()
        folders = recent_list(self._window.settings.recent)
        for folder in folders:
            action = self.addAction(folder)
            action.setEnabled(Path(folder).is_dir())  # moved or unmounted: listed, not openable
            action.triggered.connect(lambda _=False, f=folder: self._window.open_path(f))
        if not folders:
            self.addAction("(no folders yet)").setEnabled(False)
