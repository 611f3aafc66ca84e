"""Random-weight models of both engines for tests and benchmarks (no download).

``build_random_model(folder, size="tiny")`` writes a ``BlipForImageTextRetrieval``
and a BERT word-piece tokenizer into *folder*, so tests load it through
``Segmenter.load(model=folder)``: the same code path users take with the real
``Salesforce/blip-itm-large-flickr`` checkpoint.

* ``tiny``: a few MB, runs a whole segmentation in well under a second on CPU.
  It keeps the shapes that matter to the algorithm: 384 px training resolution
  (24x24 position grid, so the 336 px interpolation runs), 12 text layers with
  12 cross-attention heads (layer index 7 / head 9 exist), ``[DEC]``/``[ENC]``
  as the last two vocabulary entries.
* ``large``: the full BLIP-large ITM architecture (ViT-L/16, BERT-base text
  encoder), for speed measurements: speed does not depend on weight values.

``build_random_sam3(folder, size="tiny")`` writes a ``Sam3Model`` and a ``Sam3Processor``
(a byte-level CLIP BPE tokenizer without merges: every character is one token) the same
way; ``size="full"`` is the released 848M-parameter architecture, for speed.
"""

from __future__ import annotations

from pathlib import Path

# Word pieces of the tiny vocabulary. Whole words cover the sample class names
# used in tests; the ## pieces reproduce the spec's multi-piece examples
# ("pottedplant" -> pot ##ted ##pl ##ant, "tvmonitor" -> tv ##mon ##itor).
_TINY_WORDS = """
a picture of sky road car person cat dog tree grass wall water building
cup coffee table plate rocket astronaut flag chair floor ground
cloud mountain sea sand snow window door boat bird horse face hair
pot ##ted ##pl ##ant tv ##mon ##itor aero ##plane motor ##bi ##ke
traffic light plant bed ##cloth ##es red blue green white black
, . - ' ( ) / & ! ? : ;
""".split()


def _tiny_vocab() -> list[str]:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = [f"##{c}" for c in letters] + [str(d) for d in range(10)]
    pieces += [f"##{d}" for d in range(10)]
    words = []
    for w in _TINY_WORDS + letters + pieces:
        if w not in words and w not in special:
            words.append(w)
    return special + words


def _write_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    vocab = _tiny_vocab() + ["[DEC]", "[ENC]"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    for stale in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / stale).unlink(missing_ok=True)  # else from_pretrained ignores vocab.txt
    tokenizer = BertTokenizerFast.from_pretrained(folder, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    return tokenizer


def random_blip_config(size: str = "tiny"):
    """BlipConfig of the tiny test model or of the full BLIP-large ITM architecture."""
    from transformers import BlipConfig

    n_vocab = len(_tiny_vocab()) + 2
    if size == "tiny":
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, image_size=384, patch_size=16,
                      layer_norm_eps=1e-6, initializer_range=0.02)
        text = dict(vocab_size=n_vocab, hidden_size=48, intermediate_size=64,
                    num_hidden_layers=12, num_attention_heads=12, encoder_hidden_size=32,
                    max_position_embeddings=512, initializer_range=0.02,
                    pad_token_id=0, sep_token_id=3, bos_token_id=n_vocab - 2)
        return BlipConfig(vision_config=vision, text_config=text, projection_dim=32,
                          image_text_hidden_size=32)
    if size == "large":
        # BLIP-large ITM: ViT-L/16 at 384 px and a BERT-base text encoder with
        # cross-attention from 1024-wide image tokens (vocabulary sized as the real one).
        vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                      num_attention_heads=16, image_size=384, patch_size=16,
                      layer_norm_eps=1e-6, initializer_range=0.02)
        text = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072,
                    num_hidden_layers=12, num_attention_heads=12, encoder_hidden_size=1024,
                    max_position_embeddings=512, initializer_range=0.02)
        return BlipConfig(vision_config=vision, text_config=text, projection_dim=256,
                          image_text_hidden_size=256)
    raise ValueError(f"unknown size {size!r}; expected 'tiny' or 'large'")


def random_blip(size: str = "tiny", seed: int = 0):
    """An in-memory random BlipForImageTextRetrieval (eval mode)."""
    import torch
    from transformers import BlipForImageTextRetrieval

    torch.manual_seed(seed)
    return BlipForImageTextRetrieval(random_blip_config(size)).eval()


def build_random_model(folder: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Save a random-weight BLIP ITM model and its tokenizer into *folder*."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    random_blip(size, seed).save_pretrained(folder)
    _write_tokenizer(folder)
    return folder


def random_segmenter(size: str = "large", device: str = "cpu", config=None, seed: int = 0):
    """A Segmenter on a random model built in memory (benchmarks: no 1.8 GB save/load)."""
    import tempfile

    from .loading import resolve_device
    from .pnp_ovss.blip import prepare_model
    from .pnp_ovss.config import SegmenterConfig
    from .pnp_ovss.segmenter import PnpOvssSegmenter

    model = prepare_model(random_blip(size, seed))
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = _write_tokenizer(Path(tmp))
    dev = resolve_device(device)
    return PnpOvssSegmenter(model.to(dev), tokenizer, config or SegmenterConfig(), dev)


# -- SAM 3 ---------------------------------------------------------------------------------
def random_sam3_config(size: str = "tiny"):
    """Sam3Config of the tiny test model (sizes as in transformers' own SAM 3 tests:
    hidden 32, 2 ViT layers, 224 px, patch 14, window 8, 5 queries) or ``"full"``
    (the released architecture: Sam3Config defaults, 848M parameters, 1008 px)."""
    from transformers import Sam3Config

    if size == "full":
        return Sam3Config()
    if size != "tiny":
        raise ValueError(f"unknown size {size!r}; expected 'tiny' or 'full'")
    from transformers.models.sam3.configuration_sam3 import (
        Sam3DETRDecoderConfig, Sam3DETREncoderConfig, Sam3GeometryEncoderConfig, Sam3MaskDecoderConfig,
        Sam3VisionConfig, Sam3ViTConfig,
    )

    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             image_size=224, patch_size=14, window_size=8, global_attn_indexes=[0, 1])
    vision = Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=32, scale_factors=[2.0, 1.0])
    n_vocab = len(_clip_byte_vocab())  # <|startoftext|>, <|endoftext|> are the last two ids
    text = dict(vocab_size=n_vocab, bos_token_id=n_vocab - 2, eos_token_id=n_vocab - 1, pad_token_id=n_vocab - 1,
                hidden_size=32, intermediate_size=64, projection_dim=32,
                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32, hidden_act="gelu")
    small = dict(hidden_size=32, num_layers=1, num_attention_heads=4, intermediate_size=64)
    return Sam3Config(
        vision_config=vision, text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(**small),
        detr_encoder_config=Sam3DETREncoderConfig(**small),
        detr_decoder_config=Sam3DETRDecoderConfig(**small, num_queries=5),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=32, num_upsampling_stages=2),
    )


def _clip_byte_vocab() -> dict[str, int]:
    """A byte-level CLIP BPE vocabulary without merges: every byte, its end-of-word form, 2 specials."""
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=_clip_byte_vocab(), merges=[])


def random_sam3(size: str = "tiny", seed: int = 0, contrast: bool = False):
    """An in-memory random Sam3Model (eval mode).

    A random SAM 3 gives probabilities of ~0.5 everywhere (semantic map, query scores,
    presence). ``contrast=True`` scales the heads that make them (semantic projection x1000,
    query projection x100, presence head x100 with a +2.5 bias) so that tests see maps
    with a spread and a few instances above the 0.5 score threshold."""
    import torch
    from transformers import Sam3Model

    torch.manual_seed(seed)
    model = Sam3Model(random_sam3_config(size)).eval()
    if contrast:
        with torch.no_grad():
            model.mask_decoder.semantic_projection.weight.mul_(1000.0)
            model.dot_product_scoring.query_proj.weight.mul_(100.0)
            model.detr_decoder.presence_head.layer3.weight.mul_(100.0)
            model.detr_decoder.presence_head.layer3.bias.add_(2.5)
    return model


def sam3_processor(size: str = "tiny"):
    """A Sam3Processor for the model size (the tiny model reads 224 px images)."""
    from transformers import Sam3ImageProcessor, Sam3Processor

    side = 224 if size == "tiny" else 1008
    image_processor = Sam3ImageProcessor(size={"height": side, "width": side})
    return Sam3Processor(image_processor=image_processor, tokenizer=_clip_tokenizer())


def build_random_sam3(folder: str | Path, size: str = "tiny", seed: int = 0, contrast: bool = True) -> Path:
    """Save a random Sam3Model plus a Sam3Processor (byte-level CLIP tokenizer) into *folder*."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    random_sam3(size, seed, contrast).save_pretrained(folder)
    sam3_processor(size).save_pretrained(folder)
    return folder



# --- interactive model (SAM 2.1) ----------------------------------------------------------

def random_sam2_config(size: str = "tiny"):
    """Sam2Config of the tiny test model (sizes as in transformers' own SAM 2 tests:
    128 px, Hiera hidden 12, FPN 32) or of the full SAM 2.1 hiera-tiny architecture (1024 px)."""
    from transformers import (Sam2Config, Sam2HieraDetConfig, Sam2MaskDecoderConfig, Sam2PromptEncoderConfig,
                              Sam2VisionConfig)

    if size == "full":
        return Sam2Config()  # transformers' defaults are facebook/sam2.1-hiera-tiny's architecture
    if size != "tiny":
        raise ValueError(f"unknown size {size!r}; expected 'tiny' or 'full'")
    backbone = Sam2HieraDetConfig(hidden_size=12, image_size=128, patch_kernel_size=7, patch_stride=4,
                                  patch_padding=3, blocks_per_stage=[1, 2, 7, 2],
                                  embed_dim_per_stage=[12, 24, 48, 96])
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[96, 48, 24, 12],
                              backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=32)
    prompt = Sam2PromptEncoderConfig(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=8)
    decoder = Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=4,
                                    iou_head_depth=3, iou_head_hidden_dim=32)
    return Sam2Config(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)


def random_sam2(size: str = "tiny", seed: int = 0):
    """(Sam2Model in eval mode with random weights, its Sam2Processor)."""
    import torch
    from transformers import Sam2Model, Sam2Processor
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor

    config = random_sam2_config(size)
    torch.manual_seed(seed)
    model = Sam2Model(config).eval()
    side = config.prompt_encoder_config.image_size
    low_res = side // config.prompt_encoder_config.patch_size * 4  # the decoder's mask size
    image_processor = Sam2ImageProcessor(size={"height": side, "width": side},
                                         mask_size={"height": low_res, "width": low_res})
    return model, Sam2Processor(image_processor=image_processor)


def build_random_sam2(folder: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Save a random-weight Sam2Model and its processor into *folder* (load it like real weights)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model, processor = random_sam2(size, seed)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def random_interactive_segmenter(size: str = "full", device: str = "cpu", seed: int = 0, cache_size: int = 4,
                                 backend: str = "auto"):
    """An InteractiveSegmenter on a random SAM 2 built in memory (benchmarks: no save/load)."""
    from .interactive import InteractiveSegmenter
    from .loading import resolve_device

    model, processor = random_sam2(size, seed)
    model.requires_grad_(False)
    dev = resolve_device(device)
    return InteractiveSegmenter(model.to(dev), processor, dev, "sam2", cache_size, backend)


def build_random_sam3_tracker(folder: str | Path, seed: int = 0) -> Path:
    """A tiny random Sam3TrackerModel + Sam3TrackerProcessor (224 px, ViT hidden 32, as the tiny
    SAM 3 above) saved into *folder*: the SAM 3 path of the interactive model."""
    import torch
    from transformers import Sam3ImageProcessor, Sam3TrackerConfig, Sam3TrackerModel, Sam3TrackerProcessor
    from transformers.models.sam3.configuration_sam3 import Sam3VisionConfig, Sam3ViTConfig
    from transformers.models.sam3_tracker.configuration_sam3_tracker import (Sam3TrackerMaskDecoderConfig,
                                                                             Sam3TrackerPromptEncoderConfig)

    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             image_size=224, patch_size=14, window_size=8, global_attn_indexes=[0, 1])
    vision = Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=32,
                              backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]])
    config = Sam3TrackerConfig(
        vision_config=vision,
        prompt_encoder_config=Sam3TrackerPromptEncoderConfig(hidden_size=32, image_size=224, patch_size=14,
                                                             mask_input_channels=8),
        mask_decoder_config=Sam3TrackerMaskDecoderConfig(hidden_size=32, mlp_dim=64, num_attention_heads=4,
                                                         iou_head_hidden_dim=32))
    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    Sam3TrackerModel(config).eval().save_pretrained(folder)
    image_processor = Sam3ImageProcessor(size={"height": 224, "width": 224}, mask_size={"height": 64, "width": 64})
    Sam3TrackerProcessor(image_processor=image_processor).save_pretrained(folder)
    return folder
