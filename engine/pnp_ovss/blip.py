"""The three calls PnP-OVSS makes into Hugging Face ``BlipForImageTextRetrieval``.

* ``image_tokens``: ViT forward without autograd (the GradCAM gradient stops at text
  layer 8, so the maps are identical and ~60 % of the compute is saved);
* ``presence``: ITM match probability of "a picture of {class}" per class;
* ``gradcam``: cross-attention of one text layer/head times the ReLU of its gradient
  with respect to the summed ITM match logit (spec section 4).

``BlipForImageTextRetrieval.forward`` does not return text cross-attentions, so the
text encoder and the ITM head are called directly (spec section 11).
"""

from __future__ import annotations

import logging
import math
import types

import torch
import torch.nn.functional as F

from .captions import Caption

log = logging.getLogger(__name__)

# [B, L, 442]: 1 image CLS token + 21*21 patch tokens at 336 px.


def _sdpa_attention_forward(self, hidden_states: torch.Tensor, **kwargs):
    """BlipAttention.forward with a fused kernel; attention probabilities are not returned.

    Same weights and arithmetic as HF's eager path (qkv projection, softmax(QK^T *
    scale) V, output projection); the ViT's attention maps are never read.
    """
    bsz, tgt_len, embed_dim = hidden_states.shape
    qkv = self.qkv(hidden_states).reshape(bsz, tgt_len, 3, self.num_heads, embed_dim // self.num_heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, T, head_dim]
    out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
    out = out.transpose(1, 2).reshape(bsz, tgt_len, embed_dim)
    return self.projection(out), None


def use_sdpa_vision_attention(model) -> int:
    """Swap every ViT attention module's forward for the SDPA one; returns how many."""
    count = 0
    for layer in model.vision_model.encoder.layers:
        layer.self_attn.forward = types.MethodType(_sdpa_attention_forward, layer.self_attn)
        count += 1
    return count


class BlipItm:
    """A loaded BLIP ITM model, used in eval mode with frozen weights."""

    def __init__(self, model, *, layer_index: int, head: int, vision_dtype: torch.dtype, device: torch.device):
        self.model = model
        self.layer_index = layer_index  # 0-based text layer
        self.head = head
        self.vision_dtype = vision_dtype
        self.device = device
        self.text_dtype = next(model.text_encoder.parameters()).dtype

    # -- vision ----------------------------------------------------------------------
    @torch.no_grad()
    def image_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, S, S] normalised pixels -> image tokens [B, 1 + (S/16)^2, D] (post-LN)."""
        x = x.to(self.device, dtype=self.vision_dtype, non_blocking=True)
        out = self.model.vision_model(pixel_values=x, interpolate_pos_encoding=True)
        return out.last_hidden_state.to(self.text_dtype)

    # -- text ------------------------------------------------------------------------
    def _text(self, input_ids, attention_mask, tokens, output_attentions: bool):
        image_mask = torch.ones(tokens.shape[:2], dtype=torch.long, device=tokens.device)
        return self.model.text_encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=tokens,
            encoder_attention_mask=image_mask,
            output_attentions=output_attentions,
            return_dict=True,
        )

    def _as_tensors(self, ids, mask):
        ids = torch.as_tensor(ids, dtype=torch.long).to(self.device, non_blocking=True)
        mask = torch.as_tensor(mask, dtype=torch.long).to(self.device, non_blocking=True)
        return ids, mask

    @torch.no_grad()
    def presence(self, tokens: torch.Tensor, ids, mask) -> torch.Tensor:
        """ITM match probability for each caption against its image's tokens -> [N]."""
        ids, mask = self._as_tensors(ids, mask)
        out = self._text(ids, mask, tokens, output_attentions=False)
        logits = self.model.itm_head(out.last_hidden_state[:, 0])  # [N, 2]
        return logits.float().softmax(dim=-1)[:, 1]

    def gradcam(self, tokens: torch.Tensor, ids, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """GradCAM of the chosen cross-attention head -> ([B, L, P, P], match logits [B]).

        cam = A[..., 1:] * relu(dA[..., 1:]) * text_mask, with A the post-softmax
        cross-attention probabilities of layer ``layer_index``, head ``head`` and dA
        the gradient of sum_b z[b, match] with respect to A. Row r is token r (the
        [ENC] row is kept here; callers index rows by token position).
        """
        ids, mask = self._as_tensors(ids, mask)
        # The weights are frozen; the graph exists through the image tokens, and
        # autograd.grad only runs the backward of text layers >= layer_index.
        tokens = tokens.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self._text(ids, mask, tokens, output_attentions=True)
            z = self.model.itm_head(out.last_hidden_state[:, 0])  # [B, 2]
            attn = out.cross_attentions[self.layer_index]  # [B, heads, L, 1 + N]
            (grad,) = torch.autograd.grad(z[:, 1].sum(), attn)
        a = attn[:, self.head, :, 1:].detach().float()  # [B, L, N]  drop the image CLS column
        g = grad[:, self.head, :, 1:].float().clamp_min(0)
        cam = a * g * mask[:, :, None].to(a.dtype)
        side = math.isqrt(cam.shape[-1])
        return cam.reshape(cam.shape[0], cam.shape[1], side, side), z[:, 1].detach().float()


def class_maps(cam: torch.Tensor, caption: Caption) -> torch.Tensor:
    """Average the word-piece rows of each class: cam [L, P, P] -> [C, P, P].

    The released code sums (not averages) the pieces of the last class (spec 10.7);
    every class is averaged here.
    """
    return torch.stack([cam[start:end].mean(dim=0) for start, end in caption.spans])



# -- loading ---------------------------------------------------------------------------
VISION_LN_EPS = 1e-6  # LAVIS's ViT; HF's BlipVisionConfig defaults to 1e-5


def load_blip(source):
    """(BlipForImageTextRetrieval prepared for PnP-OVSS, tokenizer) from an ``engine.loading.ModelSource``."""
    from transformers import AutoTokenizer, BlipForImageTextRetrieval

    from ..loading import load_from_source

    tokenizer = load_from_source(source, "tokenizer", AutoTokenizer.from_pretrained)
    net = load_from_source(source, "weights", BlipForImageTextRetrieval.from_pretrained)
    return prepare_model(net), tokenizer


def prepare_model(net):
    """Eval mode, frozen weights (the graph runs through the image tokens), LAVIS's ViT eps."""
    net.eval()
    net.requires_grad_(False)
    set_vision_layernorm_eps(net, VISION_LN_EPS)
    return net


def set_vision_layernorm_eps(net, eps: float) -> int:
    """Use LAVIS's LayerNorm eps in the ViT for the closest numerics (spec 11)."""
    count = 0
    for module in net.vision_model.modules():
        if isinstance(module, torch.nn.LayerNorm) and module.eps != eps:
            module.eps = eps
            count += 1
    net.config.vision_config.layer_norm_eps = eps
    if count:
        log.info("vision LayerNorm eps set to %g on %d modules", eps, count)
    return count
