"""SAM 2.1's prompt encoder + mask decoder with its arithmetic regrouped for a click.

``RegroupedPromptToMasks`` computes what ``onnx_backend.PromptToMasks`` (transformers'
``Sam2MaskDecoder``, which ``Sam3TrackerMaskDecoder`` copies line for line) computes, from
the same modules and weights, in an order that costs a click less once the graph is split
into its image part and its click part:

* **Attention between the ~10 prompt tokens and the 4096 image tokens.** A projection of the
  image tokens (4096 x 256 -> 128) is a large product; where the image tokens depend on the
  click (every layer after the first), the projection is moved to the token side, which is
  tiny: a head's scores ``(q Wq_h)(x Wk_h + b)^T`` are ``(q Wq_h Wk_h^T) x^T`` plus a constant
  per row (cancelled by the softmax), its output ``P (x Wv_h + b)`` is ``(P x) Wv_h + b``
  (a softmax row sums to one), and the image->token output projection is folded into the
  token values. All heads go through one product against the image tokens, so the 4096-row
  tensors are never split into heads nor transposed. The first layer keeps the plain order:
  there the image-side projections read only the image and run once per image.
* **The 2x2 stride-2 transposed convolutions** are products with the kernel, whose four
  sub-pixels are left where the product puts them: every later step (adding the high-resolution
  features, the channel layer norm, GELU, the next kernel, the hypernetwork product) works on
  one pixel at a time, so the pixels stay in this blocked order (the high-resolution features
  are put in the same order once per image) and only the four 256 x 256 masks are put back in
  raster order at the end. No channels-first <-> channels-last transposes of 1-2 M values.

Sums are taken in another order than torch's, so values differ in the last bits (the
segmenter checks the exported graph against ``PromptToMasks`` before using it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Attributes the regrouped forward reads; a decoder without them is exported as it is.
_DECODER = ("transformer", "upscale_conv1", "upscale_conv2", "upscale_layer_norm", "activation",
            "output_hypernetworks_mlps", "iou_prediction_head", "obj_score_token", "iou_token", "mask_tokens")
_LAYER = ("self_attn", "layer_norm1", "cross_attn_token_to_image", "layer_norm2", "mlp", "layer_norm3",
          "cross_attn_image_to_token", "layer_norm4", "skip_first_layer_pe")


def supports(model) -> bool:
    """Whether *model*'s decoder has the structure this module regroups (SAM 2 / 2.1, SAM 3 tracker)."""
    decoder = getattr(model, "mask_decoder", None)
    if decoder is None or not all(hasattr(decoder, a) for a in _DECODER):
        return False
    transformer = decoder.transformer
    layers = getattr(transformer, "layers", None)
    if not layers or not all(all(hasattr(layer, a) for a in _LAYER) for layer in layers):
        return False
    if not hasattr(transformer, "final_attn_token_to_image"):
        return False
    attentions = [a for layer in layers for a in (layer.cross_attn_token_to_image, layer.cross_attn_image_to_token)]
    attentions.append(transformer.final_attn_token_to_image)
    convs = (decoder.upscale_conv1, decoder.upscale_conv2)
    return (all(isinstance(a.q_proj, torch.nn.Linear) and hasattr(a, "num_attention_heads") for a in attentions)
            and all(isinstance(c, torch.nn.ConvTranspose2d) and tuple(c.kernel_size) == (2, 2)
                    and tuple(c.stride) == (2, 2) and tuple(c.padding) == (0, 0)
                    and tuple(c.output_padding) == (0, 0) and tuple(c.dilation) == (1, 1) and c.groups == 1
                    and c.bias is not None for c in convs)
            and getattr(decoder.upscale_layer_norm, "data_format", None) == "channels_first"
            and isinstance(decoder.activation, torch.nn.GELU))


class RegroupedPromptToMasks(torch.nn.Module):
    """Prompt points -> (all four mask logits [1, 1, 4, 4h, 4w], their IoU predictions [1, 1, 4]),
    for one image and one set of points (the graph's inputs, as ``PromptToMasks``)."""

    def __init__(self, model):
        super().__init__()
        if not supports(model):
            raise ValueError(f"{type(model.mask_decoder).__name__} is not a SAM 2 style mask decoder")
        self.prompt_encoder = model.prompt_encoder
        self.mask_decoder = model.mask_decoder
        pe = model.get_image_wide_positional_embeddings().detach()[0]  # [C, h, w]
        self.register_buffer("image_pe", pe.flatten(1).t().contiguous().clone())  # [h*w, C]

    def forward(self, feat_s0, feat_s1, image_embeddings, points, labels):
        decoder = self.mask_decoder
        sparse, dense = self.prompt_encoder(input_points=points, input_labels=labels, input_boxes=None,
                                            input_masks=None)
        h, w = image_embeddings.shape[-2:]
        out_tokens = torch.cat([decoder.obj_score_token.weight, decoder.iou_token.weight,
                                decoder.mask_tokens.weight], dim=0)
        prompt = torch.cat([out_tokens, sparse[0, 0].to(out_tokens.dtype)], dim=0)  # [T, C]
        pe = self.image_pe
        keys = (image_embeddings + dense)[0].flatten(1).t()  # [h*w, C]: image tokens, channels last
        queries = prompt
        for index, layer in enumerate(decoder.transformer.layers):
            if layer.skip_first_layer_pe:
                queries = _tokens(layer.self_attn, queries, queries, queries)
            else:
                query = queries + prompt
                queries = queries + _tokens(layer.self_attn, query, query, queries)
            queries = layer.layer_norm1(queries)
            image_only = index == 0  # the first layer's image side reads only the image
            keyed = keys + pe
            attend = _token_to_image if image_only else _token_to_image_folded
            queries = layer.layer_norm2(queries + attend(layer.cross_attn_token_to_image, queries + prompt,
                                                         keyed, keys))
            queries = layer.layer_norm3(queries + layer.mlp(queries))
            out = _image_to_token(layer.cross_attn_image_to_token, keyed, queries + prompt, queries, image_only)
            keys = layer.layer_norm4(keys + out)
        transformer = decoder.transformer
        queries = transformer.layer_norm_final_attn(queries + _token_to_image_folded(
            transformer.final_attn_token_to_image, queries + prompt, keys + pe, keys))

        n = decoder.num_mask_tokens
        hyper = torch.stack([decoder.output_hypernetworks_mlps[i](queries[2 + i]) for i in range(n)])  # [n, C/8]
        iou = decoder.iou_prediction_head(queries[1])
        upscaled = self._upscale(keys, feat_s1, feat_s0, h, w)  # [16 h w, C/8], blocked pixel order
        masks = hyper @ upscaled.t()  # [n, 16 h w], blocked
        masks = masks.index_select(1, _raster_order(h, w, masks.device))  # raster: row 4y+2i+k, column 4x+2j+l
        return masks.view(1, 1, n, 4 * h, 4 * w), iou.view(1, 1, n)

    def _upscale(self, keys, feat_s1, feat_s0, h, w):
        """The decoder's two transposed convolutions, layer norm and GELUs, pixels in blocked order:
        row ((((y * w + x) * 2 + i) * 2 + j) * 2 + k) * 2 + l is output pixel (4y + 2i + k, 4x + 2j + l)."""
        decoder = self.mask_decoder
        conv1, conv2, norm = decoder.upscale_conv1, decoder.upscale_conv2, decoder.upscale_layer_norm
        mid, low = conv1.out_channels, conv2.out_channels
        # feature [c, 2h, 2w] -> rows (y, x) of (i, j, c); [c, 4h, 4w] -> rows (y, x, i, j) of (k, l, c):
        # the layout of the kernels' products, so each feature (+ the kernel's bias) is their sum's start
        s1 = feat_s1[0].view(mid, h, 2, w, 2).permute(1, 3, 2, 4, 0).reshape(h * w, 4 * mid)
        s0 = feat_s0[0].view(low, h, 2, 2, w, 2, 2).permute(1, 4, 2, 5, 3, 6, 0).reshape(4 * h * w, 4 * low)
        up = _stride2_kernel(keys, conv1, s1).view(4 * h * w, mid)
        up = decoder.activation(F.layer_norm(up, (mid,), norm.weight, norm.bias, norm.eps))
        up = _stride2_kernel(up, conv2, s0).view(16 * h * w, low)
        return decoder.activation(up)


def _stride2_kernel(x, conv, start):
    """*start* + a 2x2 stride-2 ``ConvTranspose2d`` of pixels [N, C_in]: [N, 4 * C_out], sub-pixel (i, j) major."""
    weight = conv.weight.permute(0, 2, 3, 1).reshape(conv.in_channels, 4 * conv.out_channels)
    return torch.addmm(start + conv.bias.repeat(4), x, weight)


def _raster_order(h: int, w: int, device) -> torch.Tensor:
    """Blocked positions (y, x, i, j, k, l) of the raster pixels (4y + 2i + k, 4x + 2j + l)."""
    blocked = torch.arange(16 * h * w, device=device).view(h, w, 2, 2, 2, 2)
    return blocked.permute(0, 2, 4, 1, 3, 5).reshape(-1)


def _heads(attn):
    return attn.num_attention_heads, attn.head_dim


def _tokens(attn, query, key, value):
    """The module itself on the prompt tokens (tiny: ~10 x 256)."""
    return attn(query=query[None, None], key=key[None, None], value=value[None, None])[0][0, 0]


def _token_to_image(attn, query, key, value):
    """Tokens attend to image tokens as transformers does (image-side projections per image)."""
    heads, dim = _heads(attn)
    n = key.shape[0]
    q = attn.q_proj(query).view(-1, heads, dim).transpose(0, 1)  # [H, T, d]
    k = attn.k_proj(key).view(n, heads, dim).permute(1, 2, 0)  # [H, d, N] (image only)
    v = attn.v_proj(value).view(n, heads, dim).transpose(0, 1)  # [H, N, d] (image only)
    weights = torch.softmax(torch.matmul(q, k) * attn.scaling, dim=-1)
    out = torch.matmul(weights, v).transpose(0, 1).reshape(-1, heads * dim)
    return attn.o_proj(out)


def _token_to_image_folded(attn, query, key, value):
    """Tokens attend to image tokens that depend on the click: projections on the token side."""
    heads, dim = _heads(attn)
    t = query.shape[0]
    q = attn.q_proj(query).view(t, heads, dim)
    wk = attn.k_proj.weight.view(heads, dim, -1)  # [H, d, C]
    # scores of head h: (q_h Wk_h) key^T; q_h . bk_h is the same for every key and cancels in the softmax
    reach = torch.einsum("thd,hdc->htc", q, wk).reshape(heads * t, -1) * attn.scaling  # [H T, C]
    weights = torch.softmax(reach @ key.t(), dim=-1)  # [H T, N]
    mixed = (weights @ value).view(heads, t, -1)  # [H, T, C]: each head's mix of image tokens
    wv = attn.v_proj.weight.view(heads, dim, -1)
    out = torch.einsum("htc,hdc->thd", mixed, wv).reshape(t, heads * dim) + attn.v_proj.bias
    return attn.o_proj(out)


def _image_to_token(attn, query, key, value, image_only: bool):
    """Image tokens attend to the prompt tokens: scores of all heads in one product against a
    block-diagonal matrix of the token keys, the output projection folded into the token values."""
    heads, dim = _heads(attn)
    t = key.shape[0]
    k = attn.k_proj(key).view(t, heads, dim) * attn.scaling
    v = attn.v_proj(value).view(t, heads, dim)
    eye = torch.eye(heads, dtype=k.dtype, device=k.device)
    block_keys = torch.einsum("thd,hg->hdgt", k, eye).reshape(heads * dim, heads * t)  # [H d, H T]
    if image_only:  # the query projection reads only the image: once per image
        scores = attn.q_proj(query) @ block_keys
    else:
        scores = query @ (attn.q_proj.weight.t() @ block_keys) + attn.q_proj.bias @ block_keys
    weights = torch.softmax(scores.view(-1, heads, t), dim=-1).view(-1, heads * t)  # [N, H T]
    wo = attn.o_proj.weight.view(-1, heads, dim)  # [C, H, d]
    values = torch.einsum("thd,chd->htc", v, wo).reshape(heads * t, -1)  # [H T, C]
    return torch.addmm(attn.o_proj.bias, weights, values)
