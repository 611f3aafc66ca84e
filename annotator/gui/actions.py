"""Every menu command of the main window with its shortcut, in one table.

The README's shortcut table is generated from ``SHORTCUTS`` (see
``shortcuts_markdown``), so the documentation cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


@dataclass(frozen=True)
class Command:
    name: str  # attribute on Actions, and the handler's suffix: on_<name>
    text: str
    shortcuts: tuple[str, ...] = ()
    menu: str = ""
    tip: str = ""


SHORTCUTS: tuple[Command, ...] = (
    Command("open_image", "&Open Image…", ("Ctrl+O",), "&File"),
    Command("open_folder", "Open &Folder…", ("Ctrl+U",), "&File"),
    Command("save", "&Save Now", ("Ctrl+S",), "&File", "Annotations also save by themselves after each edit"),
    Command("export_coco", "&Export (COCO, semantic PNG)…", ("Ctrl+E",), "&File"),
    Command("import_coco", "&Import (COCO, semantic PNG)…", ("Ctrl+Shift+I",), "&File"),
    Command("batch", "&Label All Images…", ("Ctrl+B",), "&File", "Propose for every image of the folder"),
    Command("settings", "Se&ttings…", ("Ctrl+,",), "&File"),
    Command("quit", "&Quit", ("Ctrl+Q",), "&File"),
    Command("undo", "&Undo", ("Ctrl+Z",), "&Edit"),
    Command("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "&Edit"),
    Command("draw_polygon", "&Draw Polygon", ("Ctrl+N",), "&Edit"),
    Command("ai_polygon", "&AI Polygon", ("I",), "&Edit",
            "Click an object to outline it with the interactive model (SAM 2.1); Enter accepts"),
    Command("accept_selected", "&Accept Selected", ("Y",), "&Review"),
    Command("reject_selected", "Re&ject Selected Proposals", ("X",), "&Review"),
    Command("accept_all", "Accept A&ll Proposals", ("Shift+Y",), "&Review"),
    Command("reject_all", "Reject All &Proposals", ("Shift+X",), "&Review"),
    Command("next_proposal", "Select &Next Proposal", ("N",), "&Review"),
    Command("sharpen", "S&harpen Proposals", ("Shift+S",), "&Review",
            "Sharpen the selected proposals (or all of this image's) with the interactive model"),
    Command("propose", "&Propose", ("Ctrl+Return", "Ctrl+Enter"), "&Model"),
    Command("cancel_job", "&Cancel Job", ("Ctrl+.",), "&Model", "Stop at the next dropout pass"),
    Command("toggle_heatmap", "Show &Heatmap", ("H",), "&View"),
    Command("prev_image", "&Previous Image", ("A",), "&View"),
    Command("next_image", "&Next Image", ("D",), "&View"),
    Command("focus_classes", "Edit &Classes", ("Ctrl+L",), "&View"),
    Command("focus_filter", "&Filter Images", ("Ctrl+F",), "&View"),
    Command("zoom_in", "Zoom &In", ("Ctrl+=", "Ctrl++"), "&View"),
    Command("zoom_out", "Zoom &Out", ("Ctrl+-",), "&View"),
    Command("fit", "&Fit to Window", ("Ctrl+0",), "&View"),
    Command("about", "&About", (), "&Help"),
)

MENU_ORDER = ("&File", "&Edit", "&Review", "&Model", "&View", "&Help")


class Actions:
    """QActions for ``SHORTCUTS``, each triggering ``handler.on_<name>``."""

    def __init__(self, window: QMainWindow, handler):
        self.by_name: dict[str, QAction] = {}
        menus: dict[str, QMenu] = {title: window.menuBar().addMenu(title) for title in MENU_ORDER}
        for command in SHORTCUTS:
            action = QAction(command.text, window)
            action.setObjectName(command.name)
            action.setShortcuts([QKeySequence(s) for s in command.shortcuts])
            if command.tip:
                action.setStatusTip(command.tip)
            action.triggered.connect(getattr(handler, f"on_{command.name}"))
            window.addAction(action)  # shortcuts work even while a menu is hidden
            menus[command.menu].addAction(action)
            self.by_name[command.name] = action
        self.by_name["toggle_heatmap"].setCheckable(True)
        self.menus = menus

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]


def shortcuts_markdown() -> str:
    """The README table of keyboard shortcuts (window commands; canvas keys are the canvas's)."""
    rows = ["| Shortcut | Command |", "|---|---|"]
    for c in SHORTCUTS:
        if c.shortcuts:
            keys = " / ".join(f"`{s}`" for s in c.shortcuts)
            rows.append(f"| {keys} | {c.text.replace('&', '').rstrip('…')} |")
    return "\n".join(rows)
