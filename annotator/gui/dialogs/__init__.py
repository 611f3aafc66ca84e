"""The application's dialogs, one module each."""

from annotator.gui.dialogs.about import show_about
from annotator.gui.dialogs.batch import BatchDialog
from annotator.gui.dialogs.class_manager import ClassManagerDialog
from annotator.gui.dialogs.coco import ExportDialog, ImportDialog
from annotator.gui.dialogs.model import DownloadDialog, ModelMissingDialog, hub_download, install_problem_box
from annotator.gui.dialogs.settings import SettingsDialog
from annotator.gui.dialogs.shortcuts import ShortcutsDialog

__all__ = ["BatchDialog", "ClassManagerDialog", "DownloadDialog", "ExportDialog", "ImportDialog", "ModelMissingDialog",
           "SettingsDialog", "ShortcutsDialog", "hub_download", "install_problem_box", "show_about"]
