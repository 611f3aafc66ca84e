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
    Command("delete", "De&lete Shapes", ("Delete",), "&Edit", "Delete the selected shapes"),
    Command("edit_label", "Edit &Label…", ("E",), "&Edit", "Change the label of the selected shapes"),
    Command("copy", "&Copy", ("Ctrl+C",), "&Edit", "Copy the selected shapes (paste them on any image)"),
    Command("paste", "&Paste", ("Ctrl+V",), "&Edit"),
    Command("duplicate", "D&uplicate", ("Ctrl+D",), "&Edit", "Copy the selected shapes beside themselves"),
    Command("classes", "&Manage Classes…", ("Ctrl+Shift+L",), "&Edit", "Rename, merge, delete or recolour classes"),
    Command("brush", "&Brush", ("B",), "&Edit", "Paint onto the selected shape; [ and ] change the size"),
    Command("eraser", "E&raser", ("Shift+B",), "&Edit", "Erase from the selected shape; [ and ] change the size"),
    Command("merge_shapes", "&Merge Shapes into One", ("Ctrl+M",), "&Edit",
            "Join the selected shapes of one class into one multi-part shape (one instance)"),
    Command("split_shape", "&Split Shape into Parts", ("Ctrl+Shift+M",), "&Edit",
            "One shape per part of the selected multi-part shape"),
    Command("ai_polygon", "&AI Polygon", ("I",), "&Edit",
            "Click an object to outline it with the interactive model (SAM 2.1); Enter accepts"),
    Command("exemplars", "Find All Li&ke This (Exemplars)", ("L",), "&Edit",
            "Box one object (right- or Shift+drag: not this); SAM 3 proposes every object like it; Enter keeps them"),
    Command("accept_selected", "&Accept Selected", ("Y",), "&Review"),
    Command("reject_selected", "Re&ject Selected Proposals", ("X",), "&Review"),
    Command("accept_all", "Accept A&ll Proposals", ("Shift+Y",), "&Review"),
    Command("reject_all", "Reject All &Proposals", ("Shift+X",), "&Review"),
    Command("next_proposal", "Select &Next Proposal", ("N",), "&Review"),
    Command("sharpen", "S&harpen Proposals", ("Shift+S",), "&Review",
            "Sharpen the selected proposals (or all of this image's) with the interactive model"),
    Command("calibrate", "&Calibrate…", (), "&Review",
            "Learn per class which engine, threshold and sharpening suit this folder from its reviewed images"),
    Command("propose", "&Propose", ("Ctrl+Return", "Ctrl+Enter"), "&Model"),
    Command("cancel_job", "&Cancel Proposal", ("Ctrl+.",), "&Model",
            "Stop proposing for this image at the next pass; its shapes stay as they were"),
    Command("toggle_heatmap", "Show &Heatmap", ("H",), "&View"),
    Command("toggle_shapes", "Show &Shapes", ("Ctrl+H",), "&View", "Hide every shape to see the image"),
    Command("prev_image", "&Previous Image", ("A",), "&View"),
    Command("next_image", "&Next Image", ("D",), "&View"),
    Command("focus_classes", "Type &Classes to Propose", ("Ctrl+L",), "&View"),
    Command("focus_filter", "&Filter Images", ("Ctrl+F",), "&View"),
    Command("zoom_in", "Zoom &In", ("Ctrl+=", "Ctrl++"), "&View"),
    Command("zoom_out", "Zoom &Out", ("Ctrl+-",), "&View"),
    Command("fit", "&Fit to Window", ("Ctrl+0",), "&View"),
    Command("shortcuts", "&Keyboard Shortcuts", ("F1",), "&Help"),
    Command("about", "&About", (), "&Help"),
)

CANVAS_KEYS: tuple[tuple[str, str], ...] = (
    ("Click / Ctrl+click", "Select a shape / add it to the selection"),
    ("Click outside the shapes, Esc", "Clear the selection"),
    ("Drag a shape / a vertex", "Move the shape / the vertex"),
    ("Alt+click an edge", "Insert a vertex"),
    ("Shift+click a vertex, Backspace", "Delete a vertex (the last clicked one)"),
    ("Double-click a shape", "Edit its label"),
    ("Drag (brush, eraser)", "Paint onto / erase from the selected shape"),
    ("[ / ]", "Brush or eraser smaller / larger"),
    ("Enter, double-click (drawing)", "Close the polygon being drawn"),
    ("AI polygon: click / right- or Shift+click / drag", "Point on / point off the object / box"),
    ("AI polygon: Enter / Backspace / Esc", "Accept (new shape, or the selected shape's outline) / "
     "remove the last point / cancel"),
    ("Exemplars: drag / right- or Shift+drag", "Box an object to find all like it / box one that is not"),
    ("Exemplars: Enter / Backspace / Esc", "Keep the proposals / remove the last box / discard the boxes"),
    ("Wheel", "Zoom about the cursor"),
    ("Middle-drag, Space+drag", "Pan"),
)
"""Keys and mouse gestures the canvas handles itself (while it has the focus)."""

MENU_ORDER = ("&File", "&Edit", "&Review", "&Model", "&View", "&Help")


class Actions:
    """QActions for ``SHORTCUTS``, each triggering ``on_<name>`` of the first handler that has it."""

    def __init__(self, window: QMainWindow, *handlers):
        self.by_name: dict[str, QAction] = {}
        menus: dict[str, QMenu] = {title: window.menuBar().addMenu(title) for title in MENU_ORDER}
        for command in SHORTCUTS:
            action = QAction(command.text, window)
            action.setObjectName(command.name)
            action.setShortcuts([QKeySequence(s) for s in command.shortcuts])
            if command.tip:
                action.setStatusTip(command.tip)
            handler = next(h for h in handlers if hasattr(h, f"on_{command.name}"))
            action.triggered.connect(getattr(handler, f"on_{command.name}"))
            window.addAction(action)  # shortcuts work even while a menu is hidden
            menus[command.menu].addAction(action)
            self.by_name[command.name] = action
        self.by_name["toggle_heatmap"].setCheckable(True)
        self.by_name["toggle_shapes"].setCheckable(True)
        self.by_name["toggle_shapes"].setChecked(True)
        self.menus = menus

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]


def shortcut_rows() -> list[tuple[str, str, str]]:
    """(keys, command, menu) for every window command with a shortcut, in menu order."""
    return [(" / ".join(c.shortcuts), c.text.replace("&", "").rstrip("…"), c.menu.replace("&", ""))
            for c in SHORTCUTS if c.shortcuts]


def shortcuts_markdown() -> str:
    """The README tables of keyboard shortcuts: window commands, then the canvas's own keys."""
    rows = ["| Shortcut | Command |", "|---|---|"]
    for keys, text, _ in shortcut_rows():
        rows.append(f"| {' / '.join(f'`{k}`' for k in keys.split(' / '))} | {text} |")
    rows += ["", "| On the canvas | Does |", "|---|---|"]
    rows += [f"| {keys} | {what} |" for keys, what in CANVAS_KEYS]
    return "\n".join(rows)
