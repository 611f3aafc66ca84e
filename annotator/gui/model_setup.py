"""Whether the model is there, said in the status bar from the start, and what to do when it is not.

At start (and after a model is chosen) ``model_check`` runs in the background; the
status bar says "checking", "on this computer" or "missing — set up…" (a link to the
dialog). A Propose while the model is known to be missing opens the dialog at once
and is kept as *pending*; it runs as soon as a model is chosen, so the user never
presses Propose twice. The engine's own "no model" (a folder that looked right but
does not load) leads to the same dialog.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel

from annotator.gui import dialogs
from annotator.gui.model_check import ModelCheck, ModelState, offline_by_setting

MISSING = 'model: missing — <a href="model">set up…</a>'


class ModelSetup(QObject):
    def __init__(self, window):
        super().__init__(window)
        self._w = window
        self.label = QLabel("model: checking…")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.linkActivated.connect(lambda _: self.show_missing(""))
        self.state: ModelState | None = None  # None while checking
        self.pending = None  # a request (callable) waiting for the model
        self.last_request = None  # the latest Propose, in case the engine reports "no model"
        self._check: ModelCheck | None = None
        self._dialog = None
        self._problem = None  # the installation-problem box while shown

    def check(self) -> None:
        """Ask in the background whether the model is on this computer (no loading, no download).

        Nothing to ask when the model's answer is known already (another folder, same model)."""
        if self.state is not None and self.state.model == self._model():
            return
        self.state = None
        self.label.setText("model: checking…")
        check = ModelCheck(self._model(), self)
        check.done.connect(self._checked)
        check.finished.connect(check.deleteLater)
        self._check = check
        check.start()

    def _checked(self, state: ModelState) -> None:
        if state.model != self._model():
            return  # another model was chosen meanwhile; its own check follows
        self.state = state
        if not state.available:
            self.label.setText(MISSING)
            self.label.setToolTip(state.reason)
        elif self.label.text() == "model: checking…":
            self.label.setText("model: on this computer (loads on first Propose)")
            self.label.setToolTip(state.model)

    def _model(self) -> str:
        """The model the engine runs: the project's (or new projects' default)."""
        return self._w.client.settings.model

    def engine_state(self, state: str) -> None:
        self.label.setText(MISSING if state == "no model" else f"model: {state}")

    def request(self, run) -> None:
        """Run *run* (a Propose) now, or keep it for when a model is chosen if none is here."""
        self.last_request = run
        if self.state is not None and not self.state.available:
            self.pending = run
            self.show_missing(self.state.reason)  # at once, not after a failed load
            return
        run()

    def show_missing(self, message: str) -> None:
        """The model dialog; the request that needed the model runs once one is chosen."""
        if self.pending is None:
            self.pending = self.last_request
        if not message and self.state is not None:
            message = self.state.reason
        if self._dialog is None:
            online = self.state.online if self.state is not None else not offline_by_setting()
            self._dialog = dialogs.ModelMissingDialog(message, self._w.engine_settings().model, self._w,
                                                      online=online)
            self._dialog.modelChosen.connect(self.use_model)
            self._dialog.finished.connect(lambda _: setattr(self, "_dialog", None))
            self._dialog.setModal(False)  # the rest of the app keeps working meanwhile
            self._dialog.show()

    def show_install_problem(self, message: str) -> None:
        """torch + torchvision cannot run any model here: what is wrong and the command that fixes it."""
        if self._problem is None:
            self._problem = dialogs.install_problem_box(message, self._w)
            self._problem.finished.connect(lambda _: setattr(self, "_problem", None))
            self._problem.show()

    def use_model(self, model: str) -> None:
        from annotator.gui.model_menu import remember_folder
        from engine.config import engine_for_model

        w = self._w
        settings = w.engine_settings()
        remember_folder(w.settings, settings.model, model)  # Model > Segmentation Model lists it from now on
        w.settings.last_model = model  # a folder opened for the first time starts with it
        w.settings.save()
        settings.switch_model(model, lambda m: engine_for_model(m).name)  # each engine keeps its threshold
        w.apply_engine_settings()
        self.state = None  # ask again, even for the same name (its folder may be there now)
        self.check()
        pending, self.pending = self.pending, None
        if pending is not None:
            pending()  # what the user asked for before the model was there
            w.statusBar().showMessage(f"Model set to {model}; proposing what you asked for", 8000)
        else:
            w.statusBar().showMessage(f"Model set to {model}", 8000)

    def close(self) -> None:
        if self._check is not None:
            try:
                self._check.wait(3000)  # at most the network probe's timeout
            except RuntimeError:  # already finished and deleted
                pass
