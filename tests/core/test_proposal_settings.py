"""ProposalSettings: one record of how a run's output becomes proposals, stored in project.json."""

from __future__ import annotations

import json
import pickle

import pytest

from annotator.core.project import Project, ProjectSettings
from annotator.core.proposal_settings import DEFAULT_MIN_AREA_FRACTION, DEFAULT_TOLERANCE, ProposalSettings


def test_defaults_live_in_one_place():
    record, project = ProposalSettings(), ProjectSettings()
    assert (record.tolerance, record.min_area_fraction) == (DEFAULT_TOLERANCE, DEFAULT_MIN_AREA_FRACTION)
    assert project.proposal_settings() == record


def test_per_class_threshold_over_the_default_over_the_engines():
    record = ProposalSettings(class_thresholds={"sky": 0.7})
    assert record.threshold_for("sky", 0.15) == 0.7 and record.threshold_for("road", 0.15) == 0.15
    record = record.but(threshold=0.3)
    assert record.threshold_for("sky", 0.15) == 0.7 and record.threshold_for("road", 0.15) == 0.3
    assert ProposalSettings().resolved(0.5).threshold == 0.5 and record.resolved(0.5) is record
    assert pickle.loads(pickle.dumps(record)) == record


@pytest.mark.parametrize("bad, field", [({"threshold": 1.5}, "threshold"), ({"tolerance": -1}, "tolerance"),
                                        ({"class_thresholds": {"sky": "high"}}, "class_thresholds.sky"),
                                        ({"proposals": "objects"}, "proposals"), ({"refine": 1}, "refine")])
def test_bad_values_are_named(bad, field):
    with pytest.raises(ValueError, match=field):
        ProposalSettings.from_dict(bad)


def test_project_json_stores_the_record_and_older_files_still_load(tmp_path):
    state = tmp_path / ".pnp-annotator"
    state.mkdir()
    older = {"schema": "pnp-annotator/project", "version": 1, "labels": {"categories": []},
             "settings": {"model": "m", "threshold": 0.3, "simplify_tolerance": 2.0, "proposals": "regions"}}
    (state / "project.json").write_text(json.dumps(older))
    project = Project.open(tmp_path)
    assert not project.problems
    assert project.settings.proposal_settings() == ProposalSettings(threshold=0.3, tolerance=2.0,
                                                                    proposals="regions")
    project.settings.class_thresholds = {"sky": 0.6}
    project.save_settings()
    again = Project.open(tmp_path)
    assert again.settings.proposal_settings().class_thresholds == {"sky": 0.6}
    stored = json.loads((state / "project.json").read_text())["settings"]
    assert stored["class_thresholds"] == {"sky": 0.6} and stored["simplify_tolerance"] == 2.0

    (state / "project.json").write_text(json.dumps({**older, "settings": {"class_thresholds": {"sky": 2}}}))
    assert "settings.class_thresholds.sky" in Project.open(tmp_path).problems[0]


def test_switching_engines_keeps_each_engines_threshold():
    engine_of = {"blip": "pnp-ovss", "sam": "sam3", "blip2": "pnp-ovss"}.get
    defaults = ProjectSettings(model="blip")
    settings = ProjectSettings(**{**defaults.to_dict()})
    settings.threshold = 0.3
    settings.switch_model("blip2", engine_of)  # same engine: the threshold stays
    assert settings.threshold == 0.3
    settings.switch_model("sam", engine_of)
    assert settings.threshold is None and settings.engine_thresholds == {"pnp-ovss": 0.3}
    settings.switch_model("blip", engine_of)
    assert settings.threshold == 0.3 and settings.engine_thresholds == {}
    assert defaults.engine_thresholds == {}, "a copied settings object shares no dict with its source"
