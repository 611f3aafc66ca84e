"""Segmenter.load picks the engine from the checkpoint's config; one source resolution for all engines."""

import json

import pytest

from engine import ModelNotFoundError, Segmenter
from engine.loading import resolve_model_source


def test_blip_folder_is_pnp_ovss(segmenter, tiny_model_dir):
    assert segmenter.engine == "pnp-ovss"
    source = resolve_model_source(str(tiny_model_dir))
    assert source.engine.name == "pnp-ovss" and type(source.config).__name__ == "BlipConfig"
    assert source.folder == tiny_model_dir


def test_patch_size_comes_from_the_model_config(segmenter):
    assert segmenter.patch_size == segmenter.model.config.vision_config.patch_size == 16
    assert segmenter.grid == 21  # 336 px / 16 px
    res = segmenter.segment("resources/samples/chelsea.png", ["cat"])
    assert res.heatmaps.shape == (1, 21, 21) and res.engine == "pnp-ovss" and res.instances == []


def test_folder_of_another_kind_of_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model=str(tmp_path), device="cpu")
    msg = str(err.value)
    assert "'bert' model" in msg and "BlipConfig" in msg and "Sam3Config" in msg


def test_unreadable_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelNotFoundError, match="Cannot read"):
        Segmenter.load(model=str(tmp_path), device="cpu")


def test_folder_with_config_but_no_weights(tmp_path, tiny_model_dir):
    (tmp_path / "config.json").write_bytes((tiny_model_dir / "config.json").read_bytes())
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model=str(tmp_path), device="cpu")
    assert "Cannot load the PnP-OVSS (BLIP)" in str(err.value) and str(tmp_path) in str(err.value)


def _gated_error():
    from huggingface_hub.errors import GatedRepoError

    cause = GatedRepoError.__new__(GatedRepoError)
    Exception.__init__(cause, "401 Client Error: Access to model facebook/sam3 is restricted")
    try:
        raise OSError("You are trying to access a gated repo.") from cause
    except OSError as exc:
        return exc


def test_gated_model_without_token_says_accept_licence_and_log_in(monkeypatch):
    import engine.loading as loading

    calls = []

    def refuse(kwargs):
        calls.append(kwargs)
        if kwargs.get("local_files_only"):
            raise OSError("not in the local cache")
        raise _gated_error()

    monkeypatch.setattr(loading, "offline", lambda: False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(loading, "_auto_config", refuse)
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model="facebook/sam3", device="cpu")
    msg = str(err.value)
    assert "gated" in msg and "accept the licence" in msg and "hf auth login" in msg
    assert "https://huggingface.co/facebook/sam3" in msg
    assert [c.get("local_files_only", False) for c in calls] == [True, False]  # cache first, then the hub


def test_sam3_hub_id_offline_explains_the_gate(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache" / "hub"))
    with pytest.raises(ModelNotFoundError) as err:
        Segmenter.load(model="facebook/sam3", device="cpu")
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "gated" in msg and "hf auth login" in msg and "hf download facebook/sam3" in msg
