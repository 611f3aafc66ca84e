"""What the tools that need the interactive model share: its missing-model dialog, shown without
blocking the window, and choosing a model for it."""

from __future__ import annotations


def show_missing_dialog(owner, message: str, current: str, *, default: str, headline: str, uses: str) -> None:
    """A non-modal ``ModelMissingDialog`` kept on ``owner._dialog`` (one at a time; none without a
    project); a chosen model goes to ``owner._use_model``."""
    from annotator.gui import dialogs

    w = owner.window
    if owner._dialog is not None or w.project is None:
        return
    owner._dialog = dialogs.ModelMissingDialog(message, current, w, default=default, headline=headline, uses=uses)
    owner._dialog.modelChosen.connect(owner._use_model)
    owner._dialog.finished.connect(lambda _: setattr(owner, "_dialog", None))
    owner._dialog.setModal(False)  # the rest of the app keeps working meanwhile
    owner._dialog.show()


def use_interactive_model(window, model: str, note: str = "") -> bool:
    """*model* becomes the project's interactive model (saved, handed to the engine thread);
    False without a project."""
    if window.project is None:
        return False
    window.project.settings.interactive_model = model
    window.project.save_settings()
    window.client.set_interactive_model(model)
    window.statusBar().showMessage(f"Interactive model set to {model}{note}", 8000)
    return True
