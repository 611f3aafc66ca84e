"""The interactive model's ONNX Runtime decoder: export once, cache, rebuild, fall back to torch."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
import torch

from engine.interactive import InteractiveSegmenter
from engine.interactive import onnx_backend, regrouped
from engine.testing import random_sam2

# The tests share the module's cache folder (each export costs seconds): under pytest-xdist
# (`make test`) they run on one worker, so the graph exported by one is there for the next.
pytestmark = pytest.mark.xdist_group("onnx_backend")

RGB = np.zeros((60, 80, 3), np.uint8)
RGB[15:45, 20:60] = (200, 60, 60)
CLICKS = [([[40.0, 30.0]], [1], None), ([[40.0, 30.0], [5.0, 5.0]], [1, 0], None), ([], [], [20, 15, 60, 45])]


@pytest.fixture(scope="module")
def sam2():
    model, processor = random_sam2("tiny")
    return model.requires_grad_(False), processor


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


def make(sam2, backend="auto", model=None):
    notices = []
    seg = InteractiveSegmenter(model or sam2[0], sam2[1], torch.device("cpu"), "sam2", backend=backend,
                               status=notices.append)
    seg.notices = notices
    return seg


@pytest.fixture
def in_cache(cache, monkeypatch):
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(cache))
    return cache / "onnx"


def torch_masks(sam2):
    seg = make(sam2, "torch")
    seg.set_image("img", RGB)
    return [seg.predict(*c) for c in CLICKS]


def assert_same_as_torch(seg, sam2):
    for ours, ref in zip([seg.predict(*c) for c in CLICKS], torch_masks(sam2)):
        assert np.array_equal(ours.mask, ref.mask)
        assert ours.score == pytest.approx(ref.score, abs=1e-5)


def graphs(folder, part=""):
    return sorted(p.name for p in folder.iterdir() if part in p.name) if folder.exists() else []


def test_exported_once_then_read_from_the_cache(sam2, in_cache):
    first = make(sam2)
    first.set_image("img", RGB)
    assert first.backend == "onnxruntime"
    assert any("Preparing the click model for ONNX Runtime" in n for n in first.notices)
    files = graphs(in_cache)
    assert len(files) == 1 and files[0].startswith("sam2-prompt-decoder-") and files[0].endswith(".onnx")
    regrouped_graph = onnx_backend.graph_wrappers(sam2[0])[0]
    assert isinstance(regrouped_graph, regrouped.RegroupedPromptToMasks)
    assert files == [f"sam2-prompt-decoder-{onnx_backend.graph_key(regrouped_graph, sam2[0], 'sam2')[:32]}.onnx"]
    stamps = [(in_cache / f).stat().st_ino for f in files]  # an export renames a new file onto it

    second = make(sam2)  # same weights, same versions: the files are reused, not exported again
    second.set_image("img", RGB)
    assert second.backend == "onnxruntime" and second.notices == []
    assert [(in_cache / f).stat().st_ino for f in files] == stamps
    assert_same_as_torch(second, sam2)


def test_the_key_follows_weights_and_versions(sam2, monkeypatch):
    import onnxruntime

    model = sam2[0]
    key = onnx_backend.graph_key(onnx_backend.PromptToMasks(model), model, "sam2")
    assert key == onnx_backend.graph_key(onnx_backend.PromptToMasks(model), model, "sam2")
    monkeypatch.setattr(onnxruntime, "__version__", "0.0.1")
    assert onnx_backend.graph_key(onnx_backend.PromptToMasks(model), model, "sam2") != key
    monkeypatch.undo()
    other, _ = random_sam2("tiny", seed=1)
    assert onnx_backend.graph_key(onnx_backend.PromptToMasks(other), other, "sam2") != key


def test_a_damaged_file_is_exported_again(sam2, in_cache):
    part = "prompt-decoder"
    make(sam2).set_image("img", RGB)  # the file exists (exported here or by the test above)
    (name,) = graphs(in_cache, part)
    (in_cache / name).write_bytes(b"not an onnx graph")
    seg = make(sam2)
    seg.set_image("img", RGB)
    assert seg.backend == "onnxruntime"
    assert any("damaged or stale" in n and name in n for n in seg.notices)
    assert graphs(in_cache, part) == [name] and (in_cache / name).stat().st_size > 1000
    assert_same_as_torch(seg, sam2)


def test_a_file_of_another_model_under_this_key_is_exported_again(sam2, cache, tmp_path, monkeypatch):
    """A stale graph that loads but computes something else is caught by the check against torch.
    The stale file is this module's graph of the seed-0 model (exported here or by a test above),
    put under the key of a seed-1 model: one export (the seed-1 model's own), not two."""
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(cache))
    make(sam2).set_image("img", RGB)
    (exported,) = graphs(cache / "onnx", "prompt-decoder")
    other = (random_sam2("tiny", seed=1)[0].requires_grad_(False), sam2[1])
    key = onnx_backend.graph_key(onnx_backend.graph_wrappers(other[0])[0], other[0], "sam2")
    theirs = f"sam2-prompt-decoder-{key[:32]}.onnx"
    assert theirs != exported
    (tmp_path / "onnx").mkdir()
    shutil.copyfile(cache / "onnx" / exported, tmp_path / "onnx" / theirs)
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))
    seg = make(other)
    seg.set_image("img", RGB)
    assert seg.backend == "onnxruntime"
    assert any("damaged or stale" in n and "differ" in n for n in seg.notices)
    assert graphs(tmp_path / "onnx") == [theirs]
    assert (tmp_path / "onnx" / theirs).read_bytes() != (cache / "onnx" / exported).read_bytes(), "exported again"
    assert_same_as_torch(seg, other)


def test_graphs_unused_for_months_are_deleted_and_nothing_else(sam2, cache, tmp_path, monkeypatch):
    """Each transformers, torch or ONNX Runtime upgrade (and each model) gets its own graph: the
    ones no model has opened for UNUSED_DAYS go, the one in use is renewed, foreign files and
    links stay."""
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(cache))
    make(sam2).set_image("img", RGB)
    (exported,) = graphs(cache / "onnx", "prompt-decoder")
    folder = tmp_path / "onnx"
    folder.mkdir()
    shutil.copyfile(cache / "onnx" / exported, folder / exported)
    now = time.time()
    months, days = now - (onnx_backend.UNUSED_DAYS + 1) * 86400, now - 2 * 86400

    def made(name, when, data=b"x"):
        (folder / name).write_bytes(data)
        os.utime(folder / name, (when, when))
        return folder / name

    in_use = folder / exported
    os.utime(in_use, (months, months))  # old, but opened now: renewed, not deleted
    stale = made(f"sam2-prompt-decoder-{'a' * 32}.onnx", months)
    marker = made(f"sam2-prompt-decoder-{'b' * 32}.onnx.unusable", months)
    died = made(f".sam2-prompt-decoder-{'c' * 32}.onnx.4242.deadbeef.tmp", days)
    recent = made(f"sam3-tracker-prompt-decoder-{'d' * 32}.onnx", days)
    exporting = made(f".sam2-prompt-decoder-{'e' * 32}.onnx.4243.cafef00d.tmp", now - 60)
    foreign = made("notes.onnx", months)
    target = made("elsewhere", months)
    link = folder / f"sam2-prompt-decoder-{'f' * 32}.onnx"
    link.symlink_to(target)
    os.utime(link, (months, months), follow_symlinks=False)
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))
    seg = make(sam2)
    seg.set_image("img", RGB)
    assert seg.backend == "onnxruntime" and seg.notices == []  # the copied graph was used, not exported
    assert not stale.exists() and not marker.exists() and not died.exists()
    assert recent.exists() and exporting.exists() and foreign.exists() and target.exists() and link.is_symlink()
    assert in_use.stat().st_mtime >= now - 1


def test_a_failed_export_leaves_no_file_and_clicks_run_on_torch(sam2, tmp_path, monkeypatch):
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))

    def broken_export(model, args, f=None, **kwargs):
        if f is not None:
            with open(f, "wb") as out:
                out.write(b"half a graph")
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    seg = make(sam2)
    seg.set_image("img", RGB)
    assert seg.backend == "torch"
    # the regrouped graph first, then the decoder in transformers' order, then torch
    assert len(seg.notices) == 3 and seg.notices[0].startswith("Preparing the click model")
    assert seg.notices[1].startswith("The regrouped click graph could not be used (RuntimeError: exporter broke)")
    assert seg.notices[2].startswith("Clicks are decoded with torch") and "exporter broke" in seg.notices[2]
    assert not any("\n" in n for n in seg.notices)
    assert graphs(tmp_path / "onnx") == [], "no partial file is left behind"
    assert_same_as_torch(seg, sam2)


def test_a_regrouped_graph_that_disagrees_with_torch_gives_way_to_transformers_order(sam2, tmp_path, monkeypatch):
    """If a transformers release computed the decoder differently, the regrouped graph would fail
    the check against torch: the decoder in transformers' own order is exported instead, and the
    regrouped one is not exported again for these weights and versions."""
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))
    real = regrouped.RegroupedPromptToMasks.forward

    def off_by_one(self, *args):
        masks, iou = real(self, *args)
        return masks + 1.0, iou

    monkeypatch.setattr(regrouped.RegroupedPromptToMasks, "forward", off_by_one)
    seg = make(sam2)
    seg.set_image("img", RGB)
    assert seg.backend == "onnxruntime"
    assert any(n.startswith("The regrouped click graph could not be used (ValueError: its masks differ")
               for n in seg.notices), seg.notices
    reference = onnx_backend.graph_key(onnx_backend.PromptToMasks(sam2[0]), sam2[0], "sam2")[:32]
    assert [f for f in graphs(tmp_path / "onnx") if f.endswith(".onnx")] == [f"sam2-prompt-decoder-{reference}.onnx"]
    (marker,) = graphs(tmp_path / "onnx", ".unusable")
    assert "differ" in (tmp_path / "onnx" / marker).read_text()
    assert_same_as_torch(seg, sam2)

    again = make(sam2)
    again.set_image("img", RGB)
    assert again.backend == "onnxruntime" and again.notices == []  # nothing exported, nothing retried
    assert_same_as_torch(again, sam2)


def test_missing_onnxruntime_is_one_notice(sam2, monkeypatch):
    monkeypatch.setattr(onnx_backend, "missing_packages", lambda: ["onnxruntime"])
    seg = make(sam2)
    seg.set_image("img", RGB)
    seg.predict(*CLICKS[0])
    assert seg.backend == "torch"
    assert seg.notices == ["Clicks are decoded with torch: ONNX Runtime could not be prepared "
                           "(OnnxUnavailable: not installed: onnxruntime)"]


def test_a_failing_run_decodes_that_click_with_torch(sam2, in_cache):
    seg = make(sam2)
    seg.set_image("img", RGB)
    assert seg.backend == "onnxruntime"

    class Broken:
        def run(self, *args, **kwargs):
            raise RuntimeError("session died")

    seg._onnx.session = Broken()  # the per-click part
    ref = torch_masks(sam2)
    got = seg.predict(*CLICKS[0])  # not lost: torch decodes it
    assert np.array_equal(got.mask, ref[0].mask)
    assert seg.backend == "torch"
    assert len(seg.notices) == 1 and "failed on a click" in seg.notices[0] and "session died" in seg.notices[0]
    assert np.array_equal(seg.predict(*CLICKS[1]).mask, ref[1].mask)
    assert len(seg.notices) == 1


def test_torch_backend_never_exports(sam2, tmp_path, monkeypatch):
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))
    seg = make(sam2, "torch")
    seg.set_image("img", RGB)
    seg.predict(*CLICKS[0])
    assert seg.backend == "torch" and seg.notices == [] and graphs(tmp_path / "onnx") == []


def test_unknown_backend_is_refused(sam2):
    with pytest.raises(ValueError, match="unknown interactive backend 'tensorrt'"):
        make(sam2, "tensorrt")


def test_the_image_side_of_the_decoder_runs_once_per_image(sam2, in_cache):
    """What no click changes (the image's key/value projections, its copies) is computed when the
    image is set, not at every click; the clicks still decode exactly what torch decodes."""
    seg = make(sam2)
    seg.set_image("img", RGB)
    decoder = seg._onnx
    assert decoder.image_session is not None, "the exported graph split into an image part and a click part"
    moved = [name for name in decoder.state_names if name not in onnx_backend.IMAGE_INPUTS]
    assert moved, decoder.state_names
    for session in (decoder.image_session, decoder.session):  # no spinning into the click's torch/OpenCV work
        assert session.get_session_options().get_session_config_entry("session.force_spinning_stop") == "1"
    runs = []
    real = decoder.image_session.run
    decoder.image_session.run = lambda *a, **k: runs.append(1) or real(*a, **k)
    seg.forget()
    seg.set_image("img", RGB)
    for click in CLICKS * 2:
        seg.predict(*click)
    assert len(runs) == 1
    other = RGB[::-1].copy()
    seg.set_image("other", other)
    seg.predict(*CLICKS[0])
    seg.set_image("img", RGB)  # cached: neither the encoder nor the image part runs again
    seg.predict(*CLICKS[0])
    assert len(runs) == 2
    assert_same_as_torch(seg, sam2)


def _tiny_graph(with_if: bool = False):
    """image -> MatMul (image side) -> Add prompt -> Relu: a graph small enough to read."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "weight")
    nodes = [helper.make_node("MatMul", ["image", "weight"], ["projected"]),
             helper.make_node("Add", ["projected", "prompt"], ["summed"]),
             helper.make_node("Relu", ["summed"], ["out"])]
    if with_if:
        branch = helper.make_graph([helper.make_node("Identity", ["image"], ["y"])], "branch", [],
                                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
        nodes.insert(0, helper.make_node("If", ["flag"], ["unused"], then_branch=branch, else_branch=branch))
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 2]),
              helper.make_tensor_value_info("prompt", TensorProto.FLOAT, [1, 3])]
    if with_if:
        inputs.append(helper.make_tensor_value_info("flag", TensorProto.BOOL, []))
    graph = helper.make_graph(nodes, "tiny", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])],
                              [weight], value_info=[helper.make_tensor_value_info("projected", TensorProto.FLOAT, [1, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_split_graph_parts_compute_what_the_whole_graph_does():
    model = _tiny_graph()
    image_part, prompt_part, state = onnx_backend.split_graph(model, ("image",))
    assert [n.op_type for n in image_part.graph.node] == ["MatMul"]
    assert [n.op_type for n in prompt_part.graph.node] == ["Add", "Relu"]
    assert state == ["projected"]
    image = np.array([[1.0, -2.0]], np.float32)
    prompt = np.array([[6.5, 9.0, -30.0]], np.float32)  # image @ weight = [-6, -7, -8]
    whole = onnx_backend._session(model).run(None, {"image": image, "prompt": prompt})[0]
    (projected,) = onnx_backend._session(image_part).run(None, {"image": image})
    parts = onnx_backend._session(prompt_part).run(None, {"projected": projected, "prompt": prompt})[0]
    assert np.array_equal(parts, whole) and whole.tolist() == [[0.5, 2.0, 0.0]]


def test_split_graph_keeps_a_graph_with_subgraphs_whole():
    model = _tiny_graph(with_if=True)
    image_part, prompt_part, state = onnx_backend.split_graph(model, ("image",))
    assert image_part is None and prompt_part is model and state == ["image"]


def test_a_dynamo_graph_onnxruntime_cannot_open_is_exported_with_torchscript(sam2, tmp_path, monkeypatch):
    """An ONNX Runtime older than the dynamo exporter's opset: the TorchScript graph is made
    instead, and clicks still run on ONNX Runtime."""
    monkeypatch.setenv("PNP_ANNOTATOR_CACHE_DIR", str(tmp_path))
    real = onnx_backend.OnnxDecoder.__init__
    opened = []

    def old_runtime(self, path):
        import onnx

        opset = {o.domain: o.version for o in onnx.load(str(path)).opset_import}[""]
        opened.append(opset)
        if opset > 17:
            raise RuntimeError(f"Unsupported model opset {opset}")
        real(self, path)

    monkeypatch.setattr(onnx_backend.OnnxDecoder, "__init__", old_runtime)
    seg = make(sam2)
    seg.set_image("img", RGB)
    assert opened[0] > 17 and opened[-1] == 17
    assert seg.backend == "onnxruntime"
    assert any("dynamo exporter's graph" in n and "TorchScript" in n for n in seg.notices), seg.notices
    assert_same_as_torch(seg, sam2)
