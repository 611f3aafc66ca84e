"""The spec's test oracles 1, 2, 3, 4, 6, 7, 8 (section 13), on the tiny random model."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.pnp_ovss.blip import class_maps
from engine.images import model_input
from engine.pnp_ovss.postprocess import threshold_maps
from engine.pnp_ovss.captions import Caption, CaptionBuilder


def _inputs(seg, rgbs, class_lists):
    cfg = seg.config
    x = torch.from_numpy(np.stack([model_input(r, cfg.image_size, cfg.mean, cfg.std) for r in rgbs]))
    caps = [seg.captions.build(c) for c in class_lists]
    ids, mask = seg.captions.pad(caps)
    return x, caps, torch.tensor(ids), torch.tensor(mask)


def test_oracle1_shapes(segmenter, cat_rgb, samples_dir):
    from engine.images import load_rgb

    rgbs = [cat_rgb, load_rgb(samples_dir / "coffee.png")]
    x, caps, ids, mask = _inputs(segmenter, rgbs, [["cat", "wall", "floor"], ["cup"]])
    tokens = segmenter.itm.image_tokens(x)
    assert tokens.shape[:2] == (2, 442)
    out = segmenter.itm._text(ids, mask, tokens, output_attentions=True)
    text_layers = segmenter.model.config.text_config.num_hidden_layers
    assert len(out.cross_attentions) == text_layers
    for a in out.cross_attentions:
        assert a.shape == (2, 12, ids.shape[1], 442)
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]), atol=1e-5, rtol=0)
    cam, _ = segmenter.itm.gradcam(tokens, ids, mask)
    assert cam.shape == (2, ids.shape[1], 21, 21)
    assert (cam >= 0).all()
    # Caption 2 is shorter: its padded rows are exactly zero.
    assert mask[1].sum() < ids.shape[1]
    assert (cam[1, mask[1] == 0] == 0).all()
    assert cam[0, caps[0].class_positions].sum() > 0


def test_oracle2_position_embeddings(segmenter, cat_rgb):
    emb = segmenter.model.vision_model.embeddings
    grabbed = {}
    hook = emb.register_forward_hook(lambda m, i, o: grabbed.setdefault("out", o.detach()))
    x, *_ = _inputs(segmenter, [cat_rgb], [["cat"]])
    segmenter.itm.image_tokens(x)
    hook.remove()
    with torch.no_grad():
        xx = x.to(emb.patch_embedding.weight.dtype)
        patches = emb.patch_embedding(xx).flatten(2).transpose(1, 2)
        base = torch.cat([emb.class_embedding.expand(1, 1, -1), patches], dim=1)
    used = grabbed["out"] - base  # [1, 442, D]: the position embedding the ViT added
    table = emb.position_embedding.detach()  # [1, 577, D] trained at 384 px (24x24)
    dim = table.shape[-1]
    grid = table[:, 1:].reshape(1, 24, 24, dim).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(21, 21), mode="bicubic", align_corners=False)
    expected = torch.cat([table[:, :1], resized.permute(0, 2, 3, 1).reshape(1, 441, dim)], dim=1)
    assert (used - expected).abs().max() < 1e-5  # bit-identical up to the add/subtract
    wrong = table[:, :442]
    assert (used - wrong).abs().mean() > 10 * (used - expected).abs().mean() + 1e-3


def test_oracle2_vision_layernorm_eps(segmenter):
    eps = {m.eps for m in segmenter.model.vision_model.modules() if isinstance(m, torch.nn.LayerNorm)}
    assert eps == {1e-6}


def test_oracle3_gradient_and_batch_independence(segmenter, cat_rgb, samples_dir, rng):
    from engine.images import load_rgb

    other = load_rgb(samples_dir / "rocket.jpg")
    x, caps, ids, mask = _inputs(segmenter, [cat_rgb, other], [["cat", "wall"], ["rocket", "sky"]])
    tokens = segmenter.itm.image_tokens(x)
    # Hook-captured gradient equals autograd.grad.
    itm = segmenter.itm
    t = tokens.detach().requires_grad_(True)
    out = itm._text(ids, mask, t, output_attentions=True)
    attn = out.cross_attentions[itm.layer_index]
    captured = {}
    attn.register_hook(lambda g: captured.setdefault("g", g))
    z = segmenter.model.itm_head(out.last_hidden_state[:, 0])
    (direct,) = torch.autograd.grad(z[:, 1].sum(), attn, retain_graph=True)
    z[:, 1].sum().backward()
    torch.testing.assert_close(captured["g"], direct)
    # Perturbing the other image leaves image 0's GradCAM unchanged.
    cam_a, _ = itm.gradcam(tokens, ids, mask)
    x2 = x.clone()
    x2[1] += torch.from_numpy(rng.normal(size=x2[1].shape).astype(np.float32))
    cam_b, _ = itm.gradcam(itm.image_tokens(x2), ids, mask)
    scale = cam_a[0].abs().max()
    assert (cam_a[0] - cam_b[0]).abs().max() <= 1e-5 * scale
    assert (cam_a[1] - cam_b[1]).abs().max() > 1e-3 * cam_a[1].abs().max()


def test_oracle4_token_layout(segmenter):
    builder: CaptionBuilder = segmenter.captions
    cap = builder.build(["pottedplant", "tvmonitor"])
    tok = segmenter.tokenizer
    assert cap.input_ids[0] == builder.enc_id == tok.convert_tokens_to_ids("[ENC]")
    pieces = tok.convert_ids_to_tokens(list(cap.input_ids))
    assert pieces == ["[ENC]", "a", "picture", "of", "pot", "##ted", "##pl", "##ant", "tv", "##mon", "##itor", "[SEP]"]
    # Rows after dropping [ENC] (row r = token r + 1): 3-6 and 7-9.
    assert [(s - 1, e - 2) for s, e in cap.spans] == [(3, 6), (7, 9)]
    # Same ids as tokenising the whole caption at once, apart from [CLS] -> [ENC].
    whole = tok("A picture of pottedplant tvmonitor")["input_ids"]
    assert list(cap.input_ids[1:]) == whole[1:]


def test_oracle4_pieces_are_averaged():
    cap = Caption(input_ids=tuple(range(11)), spans=((4, 7), (7, 8), (8, 11)), classes=("a", "b", "c"))
    cam = torch.zeros(11, 2, 2)
    for row, value in zip(range(4, 11), (1, 2, 4, 8, 16, 32, 64)):
        cam[row] = value
    merged = class_maps(cam, cap)
    assert merged.shape == (3, 2, 2)
    np.testing.assert_allclose(merged[:, 0, 0].numpy(), [7 / 3, 8, 112 / 3], rtol=1e-6)  # the last is averaged too


def test_oracle6_salience_dropout_bookkeeping(segmenter, cat_rgb, monkeypatch):
    seen = []
    real = segmenter.itm.image_tokens

    def recording(x):
        seen.append(x.clone())
        return real(x)

    monkeypatch.setattr(segmenter.itm, "image_tokens", recording)
    res = segmenter.segment(cat_rgb, ["cat", "wall", "floor"])
    k_passes = segmenter.config.drop_passes
    assert len(seen) == k_passes and len(res.passes) == k_passes and len(res.dropped) == k_passes
    grid = 21
    for k, x in enumerate(seen):
        blocks = x[0].reshape(3, grid, 16, grid, 16).permute(1, 3, 0, 2, 4).reshape(grid * grid, -1)
        zero_blocks = set(torch.nonzero((blocks == 0).all(dim=1)).flatten().tolist())
        assert len(res.dropped[k]) == len(set(res.dropped[k])) == 10 * k
        assert zero_blocks == set(res.dropped[k])  # pass 0 is the unmodified image
        rows, cols = np.divmod(np.array(res.dropped[k], dtype=int), grid)
        assert (res.passes[k][:, rows, cols] == 0).all()
    expected = 2 * res.passes[0] + res.passes[1] + res.passes[2] + res.passes[3]
    assert np.array_equal(res.heatmaps, expected.astype(np.float32))


def test_oracle6_first_pass_weight_is_configurable(tiny_model_dir, cat_rgb):
    from engine import Segmenter, SegmenterConfig

    seg = Segmenter.load(str(tiny_model_dir), device="cpu", config=SegmenterConfig(first_pass_weight=1.0, drop_passes=2))
    res = seg.segment(cat_rgb, ["cat", "wall"])
    np.testing.assert_array_equal(res.heatmaps, res.passes[0] + res.passes[1])


def test_oracle7_threshold(rng):
    maps = rng.random((3, 21, 21)).astype(np.float32)
    maps[2] = 0
    maps[2, 5, 5] = 1e-8  # a single hot patch
    kept = threshold_maps(maps, 0.15)
    for c in range(3):
        m = maps[c]
        norm = (m - m.min()) / (m.max() - m.min())
        assert kept[c].max() == m.max()  # the max always survives
        np.testing.assert_array_equal(kept[c] > 0, (norm >= 0.15) & (m > 0))
        np.testing.assert_array_equal(kept[c][norm >= 0.15], m[norm >= 0.15])


@pytest.mark.parametrize("size,sigma", [((375, 500), 25.0), ((480, 640), 32.0)])
def test_oracle8_blur_sigma(size, sigma, monkeypatch, segmenter, cat_rgb):
    import engine.pnp_ovss.postprocess as pp

    used = []
    real = pp.gaussian_filter
    monkeypatch.setattr(pp, "gaussian_filter", lambda a, sigma: used.append(sigma) or real(a, sigma=sigma))
    from dataclasses import replace

    monkeypatch.setattr(segmenter, "config", replace(segmenter.config, blur_max_side=None))
    rgb = np.ascontiguousarray(np.resize(cat_rgb, (*size, 3)))
    segmenter.segment(rgb, ["cat", "wall"])
    assert used and all(s == pytest.approx(sigma) for s in used)
