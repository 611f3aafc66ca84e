"""How a file's categories join the project's label set: ids are kept, never silently renumbered.

The rule, category by category in the file's order:

1. An id-0 or ``_background_``/``__background__``/``background`` category that no
   annotation uses is skipped with a note (labelme writes one; it is not a class).
2. A name the project already has keeps the PROJECT's id. If the file's id differs,
   that is reported (annotations still import under the name; export writes the
   project's id).
3. A new name keeps the FILE's id when that id is free. When the id belongs to
   another name in the project (or is 0, which means "unlabeled"), the category gets
   the next free id, and that is reported.

Reported lines are "problems" (the import exits 1: the file cannot be reproduced
exactly); notes are informational.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator.core.labels import Category, LabelSet, normalise_name

BACKGROUND_NAMES = {"_background_", "__background__", "background"}
COCO_CATEGORY_KEYS = {"id", "name", "supercategory", "color"}


@dataclass
class CategoryPlan:
    """The outcome of resolving a file's categories against a copy of the label set."""

    labels: LabelSet  # the label set as it will be after the import
    names: dict[int, str] = field(default_factory=dict)  # file category id -> project class name
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_categories(categories: list[dict[str, Any]], used_ids: set[int], labels: LabelSet) -> CategoryPlan:
    """Resolve *categories* (validated COCO category objects) against *labels* (not modified)."""
    plan = CategoryPlan(LabelSet(labels.categories))
    for cat in categories:
        cid, name = cat["id"], normalise_name(cat["name"])
        used = cid in used_ids
        if not used and (cid == 0 or name.casefold() in BACKGROUND_NAMES):
            plan.notes.append(f"category '{name}' (id {cid}) is a background placeholder no annotation uses; "
                              "skipped")
            continue
        existing = plan.labels.get(name)
        if existing is not None:
            plan.names[cid] = existing.name
            if existing.id != cid:
                plan.problems.append(
                    f"category '{name}' has id {cid} in the file but {existing.id} in this project; its "
                    f"annotations import as '{existing.name}' and export writes id {existing.id} (a project "
                    "keeps its ids)")
            _fill_in(plan.labels, existing, cat)
            continue
        holder = plan.labels.by_id(cid)
        if cid >= 1 and holder is None:
            new = plan.labels.add(name, _color(cat), id=cid, supercategory=cat.get("supercategory") or "",
                                  extra=_extra(cat))
        else:
            new = plan.labels.add(name, _color(cat), supercategory=cat.get("supercategory") or "",
                                  extra=_extra(cat))
            why = "0 means unlabeled" if cid < 1 else f"id {cid} is '{holder.name}' in this project"
            plan.problems.append(f"category '{name}' (id {cid} in the file) gets id {new.id}: {why}")
        plan.names[cid] = new.name
    return plan


def _color(cat: dict) -> tuple[int, int, int] | None:
    c = cat.get("color")
    ok = isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c)
    return tuple(c) if ok else None


def _extra(cat: dict) -> dict[str, Any]:
    return {k: v for k, v in cat.items() if k not in COCO_CATEGORY_KEYS}


def _fill_in(labels: LabelSet, existing: Category, cat: dict) -> None:
    """A known class takes the file's supercategory and extra keys where it has none."""
    sup = existing.supercategory or (cat.get("supercategory") or "")
    extra = {**_extra(cat), **existing.extra}
    if sup != existing.supercategory or extra != existing.extra:
        labels.update(Category(existing.id, existing.name, existing.color, sup, extra))
