"""``SegmenterConfig``: every PnP-OVSS setting, stated once with its default.

The defaults are the released algorithm (Luo et al., CVPR 2024, authors' code;
see ``shared/docs/pnp-ovss-spec.md``), with the reference bugs of its section 10
fixed. Speed settings (``blur_max_side``, ``crf_max_side``, ``vision_attention``,
``vision_dtype``) only change how the same maps are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import default_threshold

# CLIP normalisation, used by BLIP's image processor and the released code.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class SegmenterConfig:
    # --- input -----------------------------------------------------------------
    image_size: int = 336
    """Images are squashed (aspect ratio not kept) to this square; a multiple of the
    model's patch size (16 for BLIP, read from the model config when loading)."""
    resample: str = "bicubic"
    """PIL filter for that resize: 'bicubic' (released code) or 'bilinear' (its ADE20K loader)."""
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    caption_prefix: str = "A picture of "
    """Caption = prefix + class names joined by spaces (one caption per image)."""

    # --- GradCAM -----------------------------------------------------------------
    layer: int = 8
    """Text-encoder layer whose cross-attention is read, 1-based (index 7)."""
    head: int = 9
    """Cross-attention head, 0-based."""

    # --- Salience Dropout ----------------------------------------------------------
    drop_passes: int = 4
    """Number of GradCAM passes K; pass k runs with 10*k patches zeroed."""
    drop_patches: int = 10
    """Patches zeroed after each pass (most salient over all class rows)."""
    first_pass_weight: float = 2.0
    """Aggregate = w * pass0 + pass1 + ... (the released code counts pass 0 twice)."""

    # --- class filtering -------------------------------------------------------------
    presence_threshold: float | None = None
    """Drop classes whose ITM match probability is below this before segmenting."""

    # --- post-processing --------------------------------------------------------------
    threshold: float = default_threshold("pnp-ovss")
    """Per-class patch threshold on the min-max normalised map."""
    background: str = "auto"
    """'auto' (background channel when fewer than 3 classes), 'always' or 'never'."""
    blur: bool = True
    blur_sigma_fraction: float = 0.05
    """Gaussian sigma = fraction * max(H, W) of the post-processing resolution."""
    blur_max_side: int | None = 512
    """Blur a copy downscaled to this side and upsample it (None: full resolution).
    sigma is >= 25 px at this size, so the normalised maps differ from the
    full-resolution blur by ~1e-2 at most (tested < 2e-2, label maps > 99.5 %
    equal); it is what keeps blur cheap on large photos."""
    crf: bool = True
    crf_iterations: int = 10
    crf_gaussian_sxy: float = 3.0
    crf_gaussian_compat: float = 7.0
    crf_bilateral_sxy: float = 50.0
    crf_bilateral_srgb: float = 5.0
    crf_bilateral_compat: float = 10.0
    crf_max_side: int = 1024
    """Above this side, blur + CRF run on a downscaled copy (spatial kernel widths
    scaled with it) and the label map is upscaled with nearest neighbour."""

    # --- speed ------------------------------------------------------------------------
    vision_attention: str = "sdpa"
    """'sdpa' (fused scaled_dot_product_attention in the ViT) or 'eager' (HF's own)."""
    vision_dtype: str = "auto"
    """'auto' (bf16/fp16 ViT on CUDA, fp32 elsewhere), 'float32', 'bfloat16', 'float16'."""

    def __post_init__(self) -> None:
        if self.background not in ("auto", "always", "never"):
            raise ValueError(f"background must be 'auto', 'always' or 'never', not {self.background!r}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be positive, not {self.image_size}")
        if self.drop_passes < 1:
            raise ValueError("drop_passes must be >= 1")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], not {self.threshold}")
        if self.presence_threshold is not None and not 0.0 <= self.presence_threshold <= 1.0:
            raise ValueError(f"presence_threshold must be in [0, 1] or None, not {self.presence_threshold}")
        if self.resample not in ("bicubic", "bilinear"):
            raise ValueError(f"resample must be 'bicubic' or 'bilinear', not {self.resample!r}")
        if self.vision_attention not in ("sdpa", "eager"):
            raise ValueError(f"vision_attention must be 'sdpa' or 'eager', not {self.vision_attention!r}")
        if self.vision_dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"unknown vision_dtype {self.vision_dtype!r}")
