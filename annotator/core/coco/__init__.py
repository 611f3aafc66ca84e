"""The one COCO codec: export a project to a COCO instances file, import one back.

See ``export.py`` and ``importer.py`` for the exact mapping; ``schema.py`` checks
an input file before anything is written.
"""

from annotator.core.coco.export import SEGMENTATION_MODES, ExportReport, build_coco, export_coco
from annotator.core.coco.importer import ImportReport, import_coco
from annotator.core.coco.schema import CocoFormatError, read_coco, validate_coco

__all__ = [
    "SEGMENTATION_MODES", "CocoFormatError", "ExportReport", "ImportReport",
    "build_coco", "export_coco", "import_coco", "read_coco", "validate_coco",
]
