"""Random-weight BLIP ITM models for tests and benchmarks (no download).

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

    from .config import SegmenterConfig
    from .loading import prepare_model, resolve_device
    from .segmenter import Segmenter

    model = prepare_model(random_blip(size, seed))
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = _write_tokenizer(Path(tmp))
    dev = resolve_device(device)
    return Segmenter(model.to(dev), tokenizer, config or SegmenterConfig(), dev)


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


def random_interactive_segmenter(size: str = "full", device: str = "cpu", seed: int = 0, cache_size: int = 4):
    """An InteractiveSegmenter on a random SAM 2 built in memory (benchmarks: no save/load)."""
    from .interactive import InteractiveSegmenter
    from .loading import resolve_device

    model, processor = random_sam2(size, seed)
    model.requires_grad_(False)
    dev = resolve_device(device)
    return InteractiveSegmenter(model.to(dev), processor, dev, "sam2", cache_size)
