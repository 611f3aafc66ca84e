"""``Sam3SegmenterConfig``: every SAM 3 engine setting, stated once with its default."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import default_threshold


@dataclass
class Sam3SegmenterConfig:
    threshold: float = default_threshold("sam3")
    """Semantic threshold: a pixel gets the most probable class if that probability is >= this, else 0."""
    instance_threshold: float = 0.5
    """Instances kept: score (query probability x presence) above this (HF instance post-processing)."""
    mask_threshold: float = 0.5
    """Instance mask pixels: mask probability above this."""
    presence_threshold: float | None = None
    """Drop classes whose presence probability is below this before labelling."""
    prompt_batch_size: int = 4
    """Class prompts decoded together against one image embedding."""
    vision_cache_size: int = 2
    """Images whose vision-encoder output is kept (LRU); ~140 MB each at 1008 px in fp32."""
    dtype: str = "auto"
    """'auto' (bf16/fp16 on CUDA, fp32 elsewhere), 'float32', 'bfloat16', 'float16'."""

    def __post_init__(self) -> None:
        for name in ("threshold", "instance_threshold", "mask_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], not {value}")
        if self.presence_threshold is not None and not 0.0 <= self.presence_threshold <= 1.0:
            raise ValueError(f"presence_threshold must be in [0, 1] or None, not {self.presence_threshold}")
        if self.prompt_batch_size < 1:
            raise ValueError(f"prompt_batch_size must be >= 1, not {self.prompt_batch_size}")
        if self.vision_cache_size < 0:
            raise ValueError(f"vision_cache_size must be >= 0, not {self.vision_cache_size}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"unknown dtype {self.dtype!r}")
