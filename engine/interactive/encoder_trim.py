"""SAM 2.1's image embedding without the work in it that changes nothing.

Two things in transformers' ``Sam2Model.get_image_embeddings`` cost a 2-core CPU ~0.2 s of a
~2 s embedding and contribute nothing to the result:

* **Attention weights that are thrown away.** ``Sam2MultiScaleAttention.forward`` starts with
  ``softmax((q * scale) @ k^T)`` over the heads of every token, then calls the attention
  function, which computes its own weights; the first result is never read (~0.11 s per
  image). ``lean_attention_forward`` is that forward without those two lines, so the
  embedding is bitwise the same.
* **Two 1x1 convolutions in a row.** The FPN neck's lateral convolutions of the two
  highest-resolution levels (96 -> 256 channels at 256x256, 192 -> 256 at 128x128) feed only
  the mask decoder's 1x1 convolutions ``conv_s0`` / ``conv_s1`` (256 -> 32, 256 -> 64), with
  no top-down sum between them. Two linear maps in a row are one map, ``(Ws Wl) x + (Ws bl + bs)``,
  so ``embed`` applies that one (~2.8 G multiply-adds fewer and no 256-channel 256x256 map;
  sums in another order: values differ in the last bits).

And on a CPU, what it does in two or three passes over memory is done in one:

* **The backbone's linear layers.** torch's CPU ``linear`` first writes the bias into the whole
  output, then multiplies into it; each Hiera block's MLP then reads and writes its wide output
  (e.g. 65536 x 384 in the first stage) once more for the exact (erf) GELU. oneDNN's linear
  (``torch.ops.mkldnn._linear_pointwise``, what torch's own compiler uses for this pattern)
  applies the bias, and the MLPs' GELU, in the product's epilogue: ~0.4 s less per image, with
  results equal to torch's or within ~2e-6 of them. Used under ``torch.inference_mode`` for
  float32 on the CPU only; a module whose op fails runs torch's / transformers' forward from then on.

All are rewrites of transformers' own code, so they are used only where that code is the
code they were written against: the source of every function they stand in for is hashed and
compared with the hashes below (transformers 5.x). Another release, or a model of another
structure (the SAM 3 tracker), runs transformers' ``get_image_embeddings`` unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re

import torch
import torch.nn.functional as F

WRITTEN_FOR = "5.25.0"  # the transformers release whose functions the hashes below are of
# sha256 (first 16 hex digits) of each function's source, whitespace collapsed
_ATTENTION = {"Sam2MultiScaleAttention.forward": "0fe9d860c3af9112"}
_MLP = {"Sam2FeedForward.forward": "235dc81975393283"}
_GELU = "3193a83cf9495ba0"  # transformers.activations.GELUActivation.forward
_EMBEDDING = {"Sam2VisionNeck.forward": "f7448567fbb67422", "Sam2VisionModel.forward": "15e1388ba761ac83",
              "Sam2Model.get_image_features": "cebd071c857b983e",
              "Sam2Model.get_image_embeddings": "42fbd4bac65fcf4b"}


def source_hash(function) -> str | None:
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):  # no source (a frozen app): nothing is replaced
        return None
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()[:16]


def _matches(expected: dict[str, str]) -> bool:
    try:
        from transformers.models.sam2 import modeling_sam2
    except ImportError:
        return False
    for name, digest in expected.items():
        owner, attribute = name.split(".")
        function = getattr(getattr(modeling_sam2, owner, None), attribute, None)
        if function is None or source_hash(function) != digest:
            return False
    return True


@functools.cache
def attention_matches() -> bool:
    """Whether this transformers' ``Sam2MultiScaleAttention.forward`` is the one rewritten here."""
    return _matches(_ATTENTION)


@functools.cache
def mlp_matches() -> bool:
    """Whether this transformers' ``Sam2FeedForward.forward`` and GELU are the ones fused here."""
    try:
        from transformers.activations import GELUActivation
    except ImportError:
        return False
    return _matches(_MLP) and source_hash(GELUActivation.forward) == _GELU


@functools.cache
def embedding_matches() -> bool:
    """Whether this transformers' neck and embedding functions are the ones rewritten here."""
    return _matches(_EMBEDDING)


def trim_attention(model) -> int:
    """Give *model*'s ``Sam2MultiScaleAttention`` modules the lean forward; returns how many."""
    if not attention_matches():
        return 0
    from transformers.models.sam2.modeling_sam2 import Sam2MultiScaleAttention

    count = 0
    for module in model.modules():
        if type(module) is Sam2MultiScaleAttention and "forward" not in vars(module):
            module.forward = lean_attention_forward.__get__(module)
            count += 1
    return count


def lean_attention_forward(self, hidden_states: torch.Tensor, **kwargs) -> torch.Tensor:
    """``Sam2MultiScaleAttention.forward`` less its unused attention weights."""
    from transformers.models.sam2 import modeling_sam2 as sam2

    batch_size, height, width, _ = hidden_states.shape
    qkv = self.qkv(hidden_states).reshape(batch_size, height * width, 3, self.num_attention_heads, -1)
    query, key, value = torch.unbind(qkv, 2)
    if self.query_stride:  # query pooling at a stage change
        query = sam2.do_pool(query.reshape(batch_size, height, width, -1), self.query_stride)
        height, width = query.shape[1:3]
        query = query.reshape(batch_size, height * width, self.num_attention_heads, -1)
    attention = sam2.ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation,
                                                            sam2.eager_attention_forward)
    output, _ = attention(self, query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2),
                          attention_mask=None, is_causal=self.is_causal, scaling=self.scale, **kwargs)
    return self.proj(output.reshape(batch_size, height, width, -1))


def use_onednn(model) -> int:
    """Give the backbone's linear layers of *model* (float32, CPU) oneDNN products: the bias, and
    for the MLPs' first layer the GELU, in the product's epilogue. Returns how many modules."""
    if not mlp_matches() or not hasattr(torch.ops.mkldnn, "_linear_pointwise") \
            or not torch.backends.mkldnn.is_available():
        return 0
    from transformers.activations import GELUActivation
    from transformers.models.sam2.modeling_sam2 import Sam2FeedForward

    backbone = getattr(getattr(model, "vision_encoder", None), "backbone", None)
    count = 0
    for module in backbone.modules() if backbone is not None else ():
        if "forward" in vars(module):
            continue
        if type(module) is Sam2FeedForward and module.num_layers == 2 and not module.layers \
                and not module.sigmoid_output and type(module.activation) is GELUActivation \
                and module.activation.act is F.gelu and _onednn_ready(module.proj_in):
            module.forward = fused_mlp_forward.__get__(module)
            count += 1
        elif type(module) is torch.nn.Linear and _onednn_ready(module):
            module.forward = onednn_linear_forward.__get__(module)
            count += 1
    return count


def _onednn_ready(linear) -> bool:
    return linear.weight.dtype == torch.float32 and linear.weight.device.type == "cpu"


def _onednn_input(self, x: torch.Tensor) -> bool:
    return (torch.is_inference_mode_enabled() and x.dtype == torch.float32 and x.device.type == "cpu"
            and not getattr(self, "_pnp_plain", False))


def fused_mlp_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
    """``Sam2FeedForward.forward`` (two layers, GELU) with the first layer and the GELU in one oneDNN call."""
    if _onednn_input(self, hidden_states):
        try:
            wide = _onednn_linear(hidden_states, self.proj_in.weight, self.proj_in.bias, "gelu")
        except RuntimeError:  # an op this build cannot run: transformers' forward from now on
            self._pnp_plain = True
        else:
            return self.proj_out(wide)
    return type(self).forward(self, hidden_states)


def onednn_linear_forward(self, x: torch.Tensor) -> torch.Tensor:
    """``nn.Linear.forward`` as one oneDNN product with the bias in its epilogue."""
    if _onednn_input(self, x):
        try:
            return _onednn_linear(x, self.weight, self.bias, "none")
        except RuntimeError:
            self._pnp_plain = True
    return F.linear(x, self.weight, self.bias)


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, post: str) -> torch.Tensor:
    """x W^T + b, then GELU (exact) if *post* is "gelu", in one oneDNN product."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, post, [], "none" if post == "gelu" else "")


def foldable(model) -> bool:
    """Whether ``embed`` can fold *model*'s neck into ``conv_s0`` / ``conv_s1`` (SAM 2 / 2.1)."""
    from transformers.models.sam2.modeling_sam2 import Sam2Model

    if type(model) is not Sam2Model or not embedding_matches():
        return False
    vision, decoder = model.vision_encoder, model.mask_decoder
    n = len(vision.neck.convs) - 1
    convs = [vision.neck.convs[n], vision.neck.convs[n - 1], decoder.conv_s0, decoder.conv_s1]
    pointwise = all(isinstance(c, torch.nn.Conv2d) and tuple(c.kernel_size) == (1, 1) and tuple(c.stride) == (1, 1)
                    and tuple(c.padding) == (0, 0) and c.groups == 1 and c.bias is not None for c in convs)
    # levels 0 and 1: no top-down sum into them or out of them into level 0
    return pointwise and n >= 2 and vision.num_feature_levels >= 2 and not {0, 1} & set(vision.neck.fpn_top_down_levels)


def embed(model, pixels: torch.Tensor) -> list[torch.Tensor]:
    """``model.get_image_embeddings(pixels)`` with the neck's first two levels folded (``foldable``)."""
    vision = model.vision_encoder
    neck, decoder = vision.neck, model.mask_decoder
    stages = vision.backbone(pixels).intermediate_hidden_states  # [B, H, W, C] per stage
    n = len(neck.convs) - 1
    levels = {0: _folded(stages[0], neck.convs[n], decoder.conv_s0),
              1: _folded(stages[1], neck.convs[n - 1], decoder.conv_s1)}
    previous = None
    for i in range(n, 1, -1):  # the lower levels as the neck computes them (top-down sums)
        lateral = neck.convs[n - i](stages[i].permute(0, 3, 1, 2).to(neck.convs[n - i].weight.dtype))
        if i in neck.fpn_top_down_levels and i != n:
            top_down = F.interpolate(previous.to(dtype=torch.float32), scale_factor=2.0, mode="nearest",
                                     align_corners=None, antialias=False).to(lateral.dtype)
            lateral = lateral + top_down
        previous = levels[i] = lateral
    kept = [levels[i] for i in range(vision.num_feature_levels)]
    kept[-1] = kept[-1] + model.no_memory_embedding.reshape(1, -1, 1, 1)
    return kept


def _folded(stage: torch.Tensor, lateral: torch.nn.Conv2d, head: torch.nn.Conv2d) -> torch.Tensor:
    """head(lateral(x)) for two 1x1 convolutions, as one map on channels-last *stage* -> [B, C, H, W]."""
    wl, ws = lateral.weight[:, :, 0, 0].float(), head.weight[:, :, 0, 0].float()
    weight = (ws @ wl).to(head.weight.dtype)
    bias = (ws @ lateral.bias.float() + head.bias.float()).to(head.weight.dtype)
    return F.linear(stage.to(weight.dtype), weight, bias).permute(0, 3, 1, 2).contiguous()
