"""The calibration report: a few lines of text, a PNG of bars and curves, an HTML page.

    lines = summary_lines(calibration)                    # what was chosen, the expected gain
    paths = write_report(calibration, folder)            # report.png, report.html, report.json

PNG, one row per class: IoU of each candidate family (engine, mode, sharpening) at its
best threshold, the current settings marked; and IoU against threshold for each family
with the chosen point starred. The HTML page shows the PNG above a table per class.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from annotator.core.atomic import atomic_write_bytes, atomic_write_text
from annotator.core.calibration.candidates import family_title
from annotator.core.calibration.run import Calibration
from annotator.core.calibration.select import ClassChoice

REPORT_NAME = "calibration-report"


def report_dir(project) -> Path:
    """Where the report goes: beside project.json in the project's state folder."""
    return project.state_dir


def summary_lines(cal: Calibration) -> list[str]:
    """One line per class: the choice, held-out and in-sample IoU, the gain, or what is missing."""
    lines = []
    for c in cal.choices:
        if c.chosen is None:
            lines.append(f"{c.label}: {c.images} reviewed image(s) show it; {c.needed} more needed "
                         f"before it is calibrated (settings left as they are)")
            continue
        text = (f"{c.label}: {c.chosen.title()} -- IoU {c.held_out.iou:.3f} on held-out halves "
                f"(in-sample {c.in_sample.iou:.3f}), boundary F {c.held_out.boundary_f:.3f}")
        if c.current_metrics is not None:
            text += (f"; current {c.current.title()}: {c.current_metrics.iou:.3f}, expected gain "
                     f"{c.gain:+.3f}")
        elif c.current is not None:
            text += f"; current {c.current.title()} was not scored (engine or sharpening unavailable)"
        lines.append(text)
    runs = ", ".join(f"{name}: model on {e['model_runs']} image(s), {e['cached']} from the cache"
                     for name, e in cal.engines.items())
    lines.append(f"{len(cal.images)} reviewed image(s) ({cal.rescored} scored now, the others' scores cached), "
                 f"{len(cal.candidates)} candidates; {runs}; "
                 f"{cal.seconds.get('total', 0):.1f} s (model {cal.seconds.get('model', 0):.1f} s, "
                 f"threshold grid {cal.seconds.get('grid', 0):.1f} s)")
    return lines


def curves(cal: Calibration, choice: ClassChoice) -> dict[tuple, list[tuple[float, float]]]:
    """family -> [(threshold, IoU on every reviewed image)], thresholds ascending."""
    out: dict[tuple, list[tuple[float, float]]] = {}
    for cand, m in zip(cal.candidates, choice.per_candidate):
        out.setdefault(cand.family, []).append((cand.threshold, m.iou))
    return {f: sorted(points) for f, points in out.items()}


def render_png(cal: Calibration) -> bytes:
    """The figure as PNG bytes (matplotlib, no display needed)."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = max(1, len(cal.choices))
    fig = Figure(figsize=(12, 3.2 * rows), dpi=90, layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    colours = {}
    for r, choice in enumerate(cal.choices):
        bars, lines = axes[r]
        fam = curves(cal, choice)
        names = list(fam)
        for i, f in enumerate(names):
            colours.setdefault(f, f"C{len(colours) % 10}")
        best = [max(v for _, v in fam[f]) for f in names]
        y = np.arange(len(names))
        bars.barh(y, best, color=[colours[f] for f in names])
        bars.set_yticks(y, [family_title(f) for f in names], fontsize=8)
        bars.set_xlim(0, 1)
        bars.set_xlabel("IoU at the family's best threshold (all reviewed images)")
        title = f"{choice.label} ({choice.images} reviewed image(s))"
        if choice.current_metrics is not None:
            bars.axvline(choice.current_metrics.iou, color="k", ls="--", lw=1, label="current settings")
            bars.legend(loc="lower right", fontsize=7)
        bars.set_title(title, fontsize=10, loc="left")
        for f in names:
            ts, vs = zip(*fam[f])
            lines.plot(ts, vs, marker=".", color=colours[f], label=family_title(f))
        if choice.chosen is not None:
            k = cal.candidates.index(choice.chosen)
            lines.plot([choice.chosen.threshold], [choice.per_candidate[k].iou], marker="*", ms=16, color="gold",
                       mec="k", ls="none", label=f"chosen: {choice.chosen.title()}")
            lines.set_title(f"held-out IoU {choice.held_out.iou:.3f} (in-sample {choice.in_sample.iou:.3f})",
                            fontsize=9, loc="left")
        else:
            lines.set_title(f"{choice.needed} more reviewed image(s) needed", fontsize=9, loc="left")
        if choice.current_metrics is not None:
            lines.plot([choice.current.threshold], [choice.current_metrics.iou], marker="o", ms=8, mfc="none",
                       mec="k", ls="none", label="current")
        lines.set_xlabel("threshold (each engine's own scale)")
        lines.set_ylabel("IoU")
        lines.set_ylim(0, 1.02)
        lines.legend(fontsize=7, loc="best")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_html(cal: Calibration, png_name: str) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Calibration report</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child"
             "{text-align:left}tr.chosen{background:#fff3b0}tr.current{background:#e8f0ff}</style></head><body>",
             "<h1>Calibration report</h1><ul>"]
    parts += [f"<li>{esc(line)}</li>" for line in summary_lines(cal)]
    parts.append(f"</ul><img src='{esc(png_name)}' alt='IoU per candidate and threshold' style='max-width:100%'>")
    for choice in cal.choices:
        parts.append(f"<h2>{esc(choice.label)}</h2><table><tr><th>candidate</th><th>IoU</th><th>boundary F</th>"
                     "<th>shapes to delete</th><th>shapes to add</th><th>area to repaint</th></tr>")
        rows = []
        fam = {}
        for k, cand in enumerate(cal.candidates):
            m = choice.per_candidate[k]
            if cand.family not in fam or m.iou > choice.per_candidate[fam[cand.family]].iou:
                fam[cand.family] = k
        shown = sorted(set(fam.values()) | {cal.candidates.index(c) for c in (choice.chosen, choice.current)
                                            if c is not None and c in cal.candidates})
        for k in shown:
            cand, m = cal.candidates[k], choice.per_candidate[k]
            cls = "chosen" if cand == choice.chosen else "current" if cand == choice.current else ""
            note = " (chosen)" if cls == "chosen" else " (current)" if cls == "current" else ""
            rows.append(f"<tr class='{cls}'><td>{esc(cand.title())}{note}</td><td>{m.iou:.3f}</td>"
                        f"<td>{m.boundary_f:.3f}</td><td>{m.delete:.2f}</td><td>{m.add:.2f}</td>"
                        f"<td>{m.repaint:.2f}</td></tr>")
        parts += rows
        parts.append("</table>")
        if choice.halves:
            parts.append("<p>Split halves: " + "; ".join(
                f"chosen on {h['chosen_on']} ({h['fit_images']} images): {esc(str(h['candidate']['engine']))} "
                f"@ {h['candidate']['threshold']:g}, IoU {h['fit_iou']:.3f} there, {h['test_iou']:.3f} on the "
                f"other {h['test_images']}" for h in choice.halves) + "</p>")
    if cal.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in cal.notes) + "</ul>")
    parts.append("<p>Scores are over all reviewed images unless marked held-out; fractions are per true shape "
                 "(delete, add) or per true pixel (repaint).</p></body></html>")
    return "\n".join(parts)


def write_report(cal: Calibration, folder: str | Path) -> dict[str, Path]:
    """Write report PNG, HTML and JSON into *folder* (atomically); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {ext: folder / f"{REPORT_NAME}.{ext}" for ext in ("png", "html", "json")}
    atomic_write_bytes(paths["png"], render_png(cal))
    atomic_write_text(paths["html"], render_html(cal, paths["png"].name))
    atomic_write_text(paths["json"], json.dumps(cal.to_dict(), indent=1, allow_nan=False, default=_plain) + "\n")
    return paths


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
