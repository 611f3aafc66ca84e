"""Position embeddings of SAM 2.1's image encoder, computed once per model instead of per image.

For every image, SAM 2.1's image encoder (transformers' ``Sam2VisionModel``) rebuilds two
position embeddings that depend only on the weights and on the input size (1024x1024 for
every image):

* the backbone's absolute embedding, resized by bicubic interpolation to the first stage's
  256x256 grid and added to the tiled window embedding (``Sam2HieraDetModel._get_pos_embed``);
* the FPN neck's sine embeddings of its four levels (``Sam2SinePositionEmbedding``).
  transformers memoises that function with room for one size, and the neck asks for four
  sizes per image, so it is rebuilt every time.

On the 2-core CPU this is ~0.2 s of a ~2 s embedding (README), for ~110 MB kept: the
largest neck level is 256 channels at 256x256. (The segmenter's own embedding path,
``encoder_trim.embed``, skips the neck's embeddings, which the image embedding never reads;
the backbone's memo serves it, the neck's serves transformers' ``get_image_embeddings``.) So it is done on the CPU, where a click
waits for it; on a GPU the whole embedding takes ~0.04 s. The memo is exact (the cached
tensors are the ones the encoder computed the first time: embeddings are bitwise equal)
and is used only under ``torch.inference_mode`` (how the segmenter runs the encoder), so
training or autograd code sharing the model computes everything as before. The
backbone's entry is keyed by its parameters' versions too: weights loaded in place after
the memo was made are never paired with an old embedding.
"""

from __future__ import annotations

import functools

import torch


def memoise_position_embeddings(model) -> int:
    """Give *model*'s SAM 2.1 encoder modules per-instance memos; returns how many got one.

    Models without those modules (the SAM 3 tracker, whose encoder keeps room for its
    sizes already) are left as they are (0)."""
    try:
        from transformers.models.sam2.modeling_sam2 import Sam2HieraDetModel, Sam2SinePositionEmbedding
    except ImportError:  # a transformers without SAM 2: nothing to memoise
        return 0
    count = 0
    for module in model.modules():
        if isinstance(module, Sam2SinePositionEmbedding) and not hasattr(module, "_pnp_memo"):
            module._pnp_memo = {}
            module.forward = _memoised_sine(module, module.forward)
            count += 1
        elif isinstance(module, Sam2HieraDetModel) and callable(getattr(module, "_get_pos_embed", None)) \
                and not hasattr(module, "_pnp_memo"):
            module._pnp_memo = {}
            module._get_pos_embed = _memoised_pos_embed(module, module._get_pos_embed)
            count += 1
    return count


def _memoised_sine(module, compute):
    @functools.wraps(compute)
    def forward(shape, device, dtype, mask=None):
        if mask is not None or not torch.is_inference_mode_enabled():
            return compute(shape, device, dtype, mask)
        key = (tuple(shape), str(device), dtype)
        if key not in module._pnp_memo:
            if len(module._pnp_memo) >= 8:  # the neck asks for 4 sizes; more means the input size changed
                module._pnp_memo.clear()
            module._pnp_memo[key] = compute(shape, device, dtype)
        return module._pnp_memo[key]

    return forward


def _memoised_pos_embed(module, compute):
    @functools.wraps(compute)
    def get_pos_embed(hw):
        if not torch.is_inference_mode_enabled():
            return compute(hw)
        weights = (module.pos_embed, module.pos_embed_window)
        key = (tuple(int(v) for v in hw),) + tuple((w._version, w.data_ptr(), w.device, w.dtype) for w in weights)
        if key not in module._pnp_memo:
            module._pnp_memo.clear()  # one size at a time: a stale entry is never kept beside the new one
            module._pnp_memo[key] = compute(hw)
        return module._pnp_memo[key]

    return get_pos_embed
