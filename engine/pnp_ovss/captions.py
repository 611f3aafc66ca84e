"""Class names -> one caption per image, with each class's token span known by construction.

The released code decodes the tokenised caption again to find which rows belong
to which class; here the caption is assembled from separately tokenised pieces,
so the span of every class is exact, multi-word names ("potted plant") included.
BERT's word-piece tokenizer splits on whitespace and punctuation before the
word-piece step, so tokenising the parts separately gives the same ids as
tokenising the joined caption (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Caption:
    """One tokenised caption: ``[ENC] a picture of <class pieces...> [SEP]``."""

    input_ids: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    """Per class, token positions [start, end) in ``input_ids``."""
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def class_positions(self) -> list[int]:
        """Every token position that belongs to some class (the rows patch selection sums)."""
        return [p for start, end in self.spans for p in range(start, end)]


class CaptionBuilder:
    """Builds captions with a given tokenizer; [ENC] replaces [CLS] as in BLIP ITM."""

    def __init__(self, tokenizer, prefix: str = "A picture of ", max_length: int = 512):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.enc_id = enc_token_id(tokenizer)
        self.sep_id = tokenizer.sep_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.prefix_ids = self._pieces(prefix)
        self._cache: dict[str, tuple[int, ...]] = {}

    def _pieces(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text.lower(), add_special_tokens=False)["input_ids"])

    def class_pieces(self, name: str) -> tuple[int, ...]:
        if name not in self._cache:
            pieces = self._pieces(name)
            if not pieces:
                raise ValueError(f"Class {name!r} has no tokens the text encoder can read; rename it")
            self._cache[name] = pieces
        return self._cache[name]

    def build(self, classes: Sequence[str]) -> Caption:
        ids = [self.enc_id, *self.prefix_ids]
        spans = []
        for name in classes:
            pieces = self.class_pieces(name)
            spans.append((len(ids), len(ids) + len(pieces)))
            ids.extend(pieces)
        ids.append(self.sep_id)
        if len(ids) > self.max_length:
            raise ValueError(
                f"The class list is too long for the text encoder: its caption takes {len(ids)} tokens, "
                f"the limit is {self.max_length} ({len(classes)} classes). Split the classes over several runs."
            )
        return Caption(tuple(ids), tuple(spans), tuple(classes))

    def presence_caption(self, name: str) -> Caption:
        """``[ENC] a picture of <name> [SEP]``, used for the ITM presence score."""
        return self.build([name])

    def pad(self, captions: Sequence[Caption]):
        """Right-pad to the longest caption: returns (input_ids, attention_mask) as int64 lists."""
        length = max(len(c) for c in captions)
        ids = [list(c.input_ids) + [self.pad_id] * (length - len(c)) for c in captions]
        mask = [[1] * len(c) + [0] * (length - len(c)) for c in captions]
        return ids, mask


def enc_token_id(tokenizer) -> int:
    """The id of BLIP's [ENC] token (30523 in the real tokenizer), looked up by name."""
    unk = tokenizer.unk_token_id
    try:
        found = tokenizer.convert_tokens_to_ids("[ENC]")
    except (KeyError, ValueError):
        found = None
    if isinstance(found, int) and found != unk and found >= 0:
        return found
    # Tokenizers saved without the added tokens: BLIP appends [DEC], [ENC] last.
    return len(tokenizer) - 1
