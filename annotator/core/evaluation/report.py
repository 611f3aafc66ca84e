"""What an evaluation prints and writes: a per-class table and a JSON record."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .metrics import Scores
from .protocols import EvalSpace


def table(space: EvalSpace, sc: Scores) -> str:
    """Per-class IoU / accuracy / pixel counts of the classes that have any pixels.

    Classes absent from both ground truth and prediction (common with --limit) are
    counted in a closing line rather than listed; a full split lists every class.
    """
    width = max(len(n) for n in space.names)
    lines = [f"{'#':>4}  {'class':<{width}}  {'IoU %':>6}  {'acc %':>6}  {'GT px':>12}  {'pred px':>12}"]
    hidden = 0
    for k, name in enumerate(space.names):
        if not (sc.gt_pixels[k] or sc.pred_pixels[k]):
            hidden += not name.startswith("(unused")
            continue
        mark = "" if sc.counted[k] else "  (not in mean)"
        lines.append(f"{k:>4}  {name:<{width}}  {_pct(sc.iou[k]):>6}  {_pct(sc.accuracy[k]):>6}  "
                     f"{sc.gt_pixels[k]:>12,}  {sc.pred_pixels[k]:>12,}{mark}")
    if hidden:
        lines.append(f"({hidden} classes with no ground-truth or predicted pixels not shown)")
    return "\n".join(lines)


def summary(record: dict) -> str:
    m = record["metrics"]
    oracle = "  [ORACLE: class lists from the ground truth]" if record["oracle"] else ""
    lines = [
        f"{record['dataset_title']} | protocol {record['protocol']} | classes {record['class_source']}{oracle}",
        f"images {record['images']}  ({_rate(record['images_per_s'])} images/s on {record['device']}, "
        f"batch {record['batch_size']})",
        f"mIoU {_pct(m['miou'])}  pixel acc {_pct(m['pixel_accuracy'])}  "
        f"mean acc {_pct(m['mean_accuracy'])}  fwIoU {_pct(m['fw_iou'])}",
    ]
    if record.get("paper_miou") is not None:
        lines.append(f"paper (PnP-OVSS + BLIP, reference protocol, GPT-4o class lists): {record['paper_miou']}")
    return "\n".join(lines)


def record(*, space: EvalSpace, sc: Scores, hist: np.ndarray, **fields) -> dict:
    """The JSON record: *fields* (run settings) plus metrics, per-class rows and the matrix."""
    per_class = [
        {"index": k, "name": name, "iou": _num(sc.iou[k]), "accuracy": _num(sc.accuracy[k]),
         "gt_pixels": int(sc.gt_pixels[k]), "pred_pixels": int(sc.pred_pixels[k]),
         "in_mean": bool(sc.counted[k])}
        for k, name in enumerate(space.names)
    ]
    return {
        **{k: _num(v) if isinstance(v, float) else v for k, v in fields.items()},
        "metrics": {"miou": _num(sc.miou), "pixel_accuracy": _num(sc.pixel_accuracy),
                    "mean_accuracy": _num(sc.mean_accuracy), "fw_iou": _num(sc.fw_iou),
                    "mean_over": space.mean_over},
        "per_class": per_class,
        # Rows: ground truth; columns: prediction, the last one "no class" (metrics.py).
        "confusion_matrix": hist.tolist(),
    }


def write_json(data: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _num(x) -> float | None:
    # JSON has no NaN: undefined scores (no ground truth, no pixels) become null.
    x = float(x)
    return None if math.isnan(x) else x


def _rate(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _pct(x) -> str:
    return "-" if x is None or math.isnan(x) else f"{100 * x:.2f}"
