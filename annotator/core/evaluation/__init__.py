"""Benchmark evaluation of the segmenter (``pnp-annotator eval``).

``datasets`` reads the releases, ``protocols`` maps labels onto scored classes,
``class_sources`` decides what each image is prompted with, ``metrics`` holds the
confusion-matrix arithmetic, ``runner`` the batched loop, ``report`` the output, and
``command`` the CLI glue.
"""

from .class_sources import ClassListError, ClassSource, class_source, parse_gpt_answer
from .datasets import INFOS, Dataset, DatasetError, DatasetInfo, Sample, open_dataset
from .metrics import IGNORE, ConfusionMatrix, Scores, scores
from .protocols import PROTOCOLS, EvalSpace, engine_overrides, eval_space, prompt_names
from .runner import EvalError, EvalRun, evaluate

__all__ = [
    "ClassListError", "ClassSource", "class_source", "parse_gpt_answer",
    "INFOS", "Dataset", "DatasetError", "DatasetInfo", "Sample", "open_dataset",
    "IGNORE", "ConfusionMatrix", "Scores", "scores",
    "PROTOCOLS", "EvalSpace", "engine_overrides", "eval_space", "prompt_names",
    "EvalError", "EvalRun", "evaluate",
]
