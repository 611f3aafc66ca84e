"""PnP-OVSS (Luo et al., CVPR 2024) on Hugging Face BLIP image-text matching.

``config`` (SegmenterConfig), ``captions`` (class names -> one caption with token spans),
``blip`` (the model calls and loading), ``postprocess`` (maps -> label map),
``segmenter`` (PnpOvssSegmenter, the engine behind ``engine.Segmenter``).
"""
