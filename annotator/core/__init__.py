"""Everything about annotations that is not a window (no Qt here): shapes, label sets,
project storage, label map -> polygons, COCO export/import and the headless batch run.
The GUI, the CLI and the tests share this one implementation."""
