"""The one COCO codec: export a project to a COCO instances file, import one back.

See ``export.py`` and ``importer.py`` for the file-level mapping, ``convert.py`` for
one annotation <-> one shape, ``categories.py`` for the category-id rule, ``meta.py``
for the kept info/licenses/image fields, and ``schema.py`` for the checks (and the
COCO flavours that are refused with an explanation).
"""

from annotator.core.coco.convert import SEGMENTATION_MODES
from annotator.core.coco.export import ExportReport, build_coco, export_coco
from annotator.core.coco.importer import ImportReport, import_coco
from annotator.core.coco.schema import CocoFormatError, detect_kind, read_coco, validate_coco

__all__ = [
    "SEGMENTATION_MODES", "CocoFormatError", "ExportReport", "ImportReport",
    "build_coco", "detect_kind", "export_coco", "import_coco", "read_coco", "validate_coco",
]
