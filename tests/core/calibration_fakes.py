"""Fake engines for calibration tests: ``engine.Segmenter`` subclasses with no model.

Each test image carries its own truth in its pixels: red > 128 is "sky" (the top rows),
green > 128 is "car" (a rectangle). The fakes read it back and build maps whose best
threshold is known:

* ``StuffEngine`` ("pnp-ovss"): sky's map falls by 0.02 a row and crosses ``SKY_BEST``
  exactly at sky's last row, so thresholding at ``SKY_BEST`` gives sky exactly, lower
  thresholds add rows, higher ones lose rows. Car's map is the car box shifted, so
  this engine is poor at cars.
* ``ObjectEngine`` ("sam3"): car's map is 0.65 on the car, 0.575 on a 2-pixel ring
  around it and 0.3 elsewhere (best threshold in (0.575, 0.65]: ``CAR_BEST``); its sky
  map is the sky shifted down (poor at sky). Instances: the car, slightly shifted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine import Instance, SegmentationResult
from engine.images import load_rgb
from engine.segmenter import Segmenter

SKY_BEST = 0.25
CAR_BEST = 0.6


@dataclass
class FakeConfig:
    threshold: float = 0.15
    background: str = "auto"
    instance_threshold: float = 0.2
    noise: int = 0


def truth_of(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rgb[..., 0] > 128, rgb[..., 1] > 128


class _Fake(Segmenter):
    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.images_seen = 0

    def _segment_batch(self, images, names, progress, cancel, batch_size):
        out = []
        for image, classes in zip(images, names):
            rgb = load_rgb(image)
            self.images_seen += 1
            maps = np.stack([self._map(rgb, c) for c in classes]).astype(np.float32)
            res = SegmentationResult(classes=list(classes), heatmaps=maps, presence={c: 1.0 for c in classes},
                                     label_map=np.zeros(rgb.shape[:2], np.int32), image_size=rgb.shape[:2],
                                     engine=self.engine, instances=self._instances(rgb, classes))
            res.label_map = self.postprocess(res)
            out.append(res)
        return out

    def postprocess(self, result, threshold=None, **options):
        t = self.config.threshold if threshold is None else threshold
        maps = np.asarray(result.heatmaps)
        best = maps.argmax(axis=0)
        return np.where(maps.max(axis=0) >= t - 1e-6, best + 1, 0).astype(np.int32)

    def _instances(self, rgb, classes):
        return []


class StuffEngine(_Fake):
    engine = "pnp-ovss"

    def _map(self, rgb, name):
        sky, car = truth_of(rgb)
        h, w = sky.shape
        if name == "sky":
            last = int(np.nonzero(sky.any(axis=1))[0].max()) if sky.any() else -1
            shift = _noise(rgb, self.config.noise)
            rows = SKY_BEST + 0.02 * (last - np.arange(h) + shift)
            return np.repeat(rows[:, None], w, axis=1).clip(0, 1)
        if name == "car":
            return np.roll(car, (6, 9), axis=(0, 1)) * 0.7
        return np.zeros((h, w))


class ObjectEngine(_Fake):
    engine = "sam3"

    def _map(self, rgb, name):
        sky, car = truth_of(rgb)
        if name == "car":
            ring = cv2.dilate(car.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            return np.where(car, 0.65, np.where(ring, 0.575, 0.3))
        if name == "sky":
            return np.roll(sky, 12, axis=0) * 0.5
        return np.zeros(sky.shape)

    def _instances(self, rgb, classes):
        _, car = truth_of(rgb)
        if "car" not in classes or not car.any():
            return []
        mask = np.roll(car, 2, axis=1)
        ys, xs = np.nonzero(mask)
        return [Instance(classes.index("car"), 0.9, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), mask)]


def _noise(rgb, amount: int) -> int:
    """A per-image offset of sky's crossing row (in rows), read from the blue channel."""
    if not amount:
        return 0
    return int(rgb[0, -1, 2]) % (2 * amount + 1) - amount


def make_image(seed: int, width: int = 64, height: int = 48, noise_code: int = 0) -> tuple[np.ndarray, dict]:
    """(rgb, {"sky": mask, "car": mask}) with the truth painted into red and green."""
    rng = np.random.default_rng(seed)
    sky = np.zeros((height, width), bool)
    sky[: int(rng.integers(8, 20))] = True
    car = np.zeros((height, width), bool)
    y0, x0 = int(rng.integers(24, 34)), int(rng.integers(4, 40))
    car[y0:y0 + int(rng.integers(6, 12)), x0:x0 + int(rng.integers(8, 18))] = True
    rgb = np.full((height, width, 3), 60, np.uint8)
    rgb[..., 0][sky] = 220
    rgb[..., 1][car] = 220
    rgb[0, -1, 2] = noise_code
    return rgb, {"sky": sky, "car": car}
