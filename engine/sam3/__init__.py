"""SAM 3 ("segment anything with concepts", Meta 2025) text-prompted segmentation via transformers.

``config`` (Sam3SegmenterConfig), ``postprocess`` (probabilities -> label map, HF's resize),
``segmenter`` (Sam3Segmenter, the engine behind ``engine.Segmenter``).
"""
