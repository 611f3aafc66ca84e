"""PnP Annotator: open-vocabulary segmentation proposals as editable polygons, exported to COCO."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pnp-annotator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
