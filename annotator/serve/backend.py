"""The ML backend's requests: ``/setup``, ``/predict`` (batch and smart tools), ``/webhook``.

A batch ``/predict`` ("Retrieve predictions" on many tasks) is cut into chunks of
``batch_size`` images; the request thread fetches a chunk's images and queues its model
job on the engine thread while it fetches the next, then turns each result into Label
Studio regions. A smart-tool ``/predict`` (its ``context`` holds the clicks) is one job
on the interactive lane. Every request has a deadline (``ML_TIMEOUT_PREDICT``, Label
Studio's own wait, less a margin): what has not finished by then is cancelled and the
answer says so instead of leaving Label Studio waiting.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.core.project import ProjectSettings
from annotator.core.terminal import printable
from annotator.serve import adapter, results
from annotator.serve.engine import EngineThread
from annotator.serve.images import ImageError, ImageFetcher
from annotator.serve.labeling import ConfigError, Control, LabelingConfig, parse_labeling_config

log = logging.getLogger("pnp-annotator.serve")

DEFAULT_PREDICT_TIMEOUT = 100.0
"""Label Studio's ML_TIMEOUT_PREDICT default (seconds)."""
IN_FLIGHT_CHUNKS = 2
"""Chunks of one batch request queued on the engine at once (decoded images held: this many + 1 chunks)."""


class RequestError(Exception):
    """A request that cannot be answered; ``status`` and the message go back as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def predict_timeout_from_env(env=os.environ) -> float:
    text = env.get("ML_TIMEOUT_PREDICT", "")
    try:
        value = float(text) if text else DEFAULT_PREDICT_TIMEOUT
    except ValueError:
        raise ValueError(f"ML_TIMEOUT_PREDICT={text!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"ML_TIMEOUT_PREDICT={text!r} must be above 0 seconds")
    return value


def checkpoint_name(model: str) -> str:
    """A hub id as it is; a folder by its name."""
    path = Path(model).expanduser()
    return path.name if path.exists() else model


@dataclass
class Stats:
    tasks: int = 0
    interactive: int = 0
    image_encoder_runs: int = 0
    """Times the interactive model's image encoder ran (a second click on an image runs none)."""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Item:
    """One model input of a batch request: a task's image and a class list, and the output
    controls answered from it (controls with the same prompts on the same image share one run)."""

    task: int
    url: str
    classes: list[str]
    outputs: list[tuple[Control, dict[str, str]]] = field(default_factory=list)
    """(control, model class -> the control's label) pairs."""
    rgb: np.ndarray | None = None


class Backend:
    """One model (and its interactive model) behind the ML backend API; thread-safe."""

    def __init__(self, settings: ProjectSettings, fetcher: ImageFetcher, *, batch_size: int = 4,
                 predict_timeout: float = DEFAULT_PREDICT_TIMEOUT, segmenter=None) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.batch_size = max(1, int(batch_size))
        self.predict_timeout = float(predict_timeout)
        self.engine = EngineThread()
        self.segmenter = segmenter if segmenter is not None else adapter.load_segmenter(settings)
        self.mode = adapter.proposal_mode(settings, self.segmenter.engine)
        self._interactive = None
        self._interactive_lock = threading.Lock()
        self._configs: dict[str, LabelingConfig] = {}
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        self.clock = time.monotonic
        """Deadlines are measured on this clock."""

    # --- identity -------------------------------------------------------------------------
    @property
    def model_version(self) -> str:
        return f"{self.segmenter.engine}:{checkpoint_name(adapter.model_name(self.settings))}"

    @property
    def interactive_version(self) -> str:
        return f"interactive:{checkpoint_name(adapter.interactive_model_name(self.settings))}"

    def health(self) -> dict:
        return {"status": "UP", "model_class": "PnpAnnotator", "model_version": self.model_version,
                "engine": self.segmenter.engine, "proposals": self.mode, "stats": self.stats.as_dict()}

    def close(self) -> None:
        self.engine.close()
        close = getattr(self.segmenter, "close", None)
        if close is not None:
            close()

    # --- /setup and /webhook ------------------------------------------------------------------
    def setup(self, body: dict) -> dict:
        _need_object(body, "/setup")
        schema = body.get("schema")
        if schema:
            self._config(schema)  # a config this backend cannot serve is said now, when the backend is added
        hostname, token = body.get("hostname"), body.get("access_token")
        self.fetcher.configure(hostname if isinstance(hostname, str) else None,
                               token if isinstance(token, str) else None)
        return {"model_version": self.model_version}

    def webhook(self, body: dict) -> dict:
        action = body.get("action") if isinstance(body, dict) else None
        return {"status": "ok", "action": action, "training": "not supported: predictions only"}

    # --- /predict ---------------------------------------------------------------------------------
    def predict(self, body: dict) -> dict:
        _need_object(body, "/predict")
        deadline = self.clock() + self.predict_timeout - min(5.0, 0.1 * self.predict_timeout)
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
            raise RequestError(400, "/predict: 'tasks' must be a non-empty list of task objects")
        config = self._config(body.get("label_config"))
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        context = params.get("context") or body.get("context")
        if context:
            return self._interactive_predict(tasks, config, context, deadline)
        return self._batch_predict(tasks, config, deadline)

    def _config(self, xml) -> LabelingConfig:
        if not isinstance(xml, str) or not xml.strip():
            raise RequestError(400, "the request has no labeling config ('label_config' / 'schema')")
        config = self._configs.get(xml)
        if config is None:
            try:
                config = parse_labeling_config(xml)
            except ConfigError as exc:
                raise RequestError(400, str(exc)) from None
            if len(self._configs) > 32:
                self._configs.clear()
            self._configs[xml] = config
        return config

    # --- batch ----------------------------------------------------------------------------------
    def _batch_predict(self, tasks: list[dict], config: LabelingConfig, deadline: float) -> dict:
        items, failures = self._plan(tasks, config)
        regions: dict[int, list] = {i: [] for i in range(len(tasks))}
        jobs: deque = deque()
        for start in range(0, len(items), self.batch_size):
            ready = self._fetch([i for i in items[start:start + self.batch_size] if i.task not in failures],
                                failures, deadline)
            if ready:
                cancel = threading.Event()
                jobs.append((ready, cancel, self.engine.submit(lambda c=ready, e=cancel: self._segment(c, e))))
            while len(jobs) > IN_FLIGHT_CHUNKS:  # bounds the decoded images held by one request
                self._collect(*jobs.popleft(), regions, failures, deadline)
        while jobs:
            self._collect(*jobs.popleft(), regions, failures, deadline)
        return self._answer(tasks, regions, failures)

    def _fetch(self, chunk: list[_Item], failures: dict, deadline: float) -> list[_Item]:
        """The chunk's items whose image could be read (request thread, while the model runs)."""
        ready = []
        for item in chunk:
            if self.clock() > deadline:
                failures.setdefault(item.task, self._late())
                continue
            try:
                item.rgb = self.fetcher.read(item.url)
                ready.append(item)
            except ImageError as exc:
                failures[item.task] = (exc.status, str(exc))
        return ready

    def _collect(self, chunk: list[_Item], cancel: threading.Event, future, regions: dict, failures: dict,
                 deadline: float) -> None:
        """Wait for one chunk's model job and turn its results into regions (request thread)."""
        outcomes = self._wait(future, cancel, deadline)
        if isinstance(outcomes, tuple):  # the whole chunk failed or ran late
            outcomes = [outcomes] * len(chunk)
        for item, outcome in zip(chunk, outcomes):
            item.rgb = None
            if item.task in failures:
                continue
            if isinstance(outcome, tuple):
                failures[item.task] = outcome
                continue
            try:
                for control, label_of in item.outputs:
                    regions[item.task].extend(self._regions(control, label_of, item.classes, outcome))
            except results.BrushEncoderMissing as exc:
                raise RequestError(501, str(exc)) from None

    def _plan(self, tasks: list[dict], config: LabelingConfig):
        items, failures = [], {}
        for index, task in enumerate(tasks):
            data = task.get("data")
            mine: dict[tuple, _Item] = {}
            for control in config.outputs:
                image = config.images[control.to_name]
                url = data.get(image.key) if isinstance(data, dict) else None
                if not isinstance(url, str) or not url:
                    failures[index] = (400, f"task {task.get('id', index)}: its data has no image URL in "
                                            f"'{image.key}' (the <Image value=\"${image.key}\"> of the config)")
                    break
                try:
                    classes = adapter.normalize([label.prompt for label in control.labels])
                except ValueError as exc:
                    raise RequestError(400, f"<{control.kind} name=\"{control.name}\">: {exc}") from None
                label_of: dict[str, str] = {}
                for label in control.labels:
                    label_of.setdefault(adapter.normalize([label.prompt])[0], label.value)
                key = (url, tuple(classes))
                if key not in mine:
                    mine[key] = _Item(index, url, classes)
                mine[key].outputs.append((control, label_of))
            items.extend(mine.values())
        return items, failures

    def _segment(self, chunk: list[_Item], cancel: threading.Event) -> list:
        """Engine thread: one model call for the chunk; one result or (status, reason) per item."""
        options = adapter.pipeline_options(self.settings, [], self.batch_size)
        try:
            outcomes = adapter.segment(self.segmenter, [i.rgb for i in chunk], [i.classes for i in chunk],
                                       options, cancel=cancel, progress=self.engine.run_interactive)
        except adapter.class_list_error() as exc:
            return [(400, f"the model refused the labels as class prompts: {exc}")] * len(chunk)
        return [(422, f"task image {i.url!r}: {o}") if isinstance(o, str) else o for i, o in zip(chunk, outcomes)]

    def _regions(self, control: Control, label_of: dict[str, str], classes: list[str], result) -> list[dict]:
        """Request thread: one result -> one control's regions."""
        height, width = (int(v) for v in result.image_size)
        if control.kind == "PolygonLabels":
            options = adapter.pipeline_options(self.settings, classes, self.batch_size)
            shapes = adapter.shapes_of(result, options)
            return results.polygon_results(shapes, control, width, height, label_of)
        if self.mode == "instances":
            return results.brush_results_from_instances(result.instances, result.classes, control, label_of)
        heat = result.heatmaps if getattr(result, "heatmaps", None) is not None and len(result.heatmaps) else None
        return results.brush_results_from_label_map(result.label_map, result.classes, control, label_of, heat)

    def _wait(self, future, cancel: threading.Event, deadline: float):
        """The chunk's outcomes, or one (status, reason) for all of them."""
        try:
            return future.result(timeout=max(0.0, deadline - self.clock()))
        except FutureTimeout:
            cancel.set()  # a running model call stops at its next pass
            future.cancel()
            return self._late()
        except CancelledError:
            return self._late()
        except Exception as exc:  # noqa: BLE001 - the engine's failure for this chunk, named
            from engine import Cancelled

            if isinstance(exc, Cancelled):
                return self._late()
            log.error("model job failed: %s: %s", type(exc).__name__, exc)
            return (500, f"the model failed: {type(exc).__name__}: {exc}")

    def _late(self) -> tuple[int, str]:
        return (503, f"not finished within ML_TIMEOUT_PREDICT={self.predict_timeout:g} s (Label Studio's wait for "
                     "a prediction): run it again on fewer tasks, or raise ML_TIMEOUT_PREDICT for both Label Studio "
                     "and serve")

    def _answer(self, tasks: list[dict], regions: dict[int, list], failures: dict) -> dict:
        if len(failures) == len(tasks):
            status, message = next(iter(failures.values()))
            if len(tasks) > 1:
                message = f"no task could be predicted ({len(tasks)} tasks); the first: {message}"
            raise RequestError(status, message)
        out, errors = [], []
        for index, task in enumerate(tasks):
            if index in failures:
                out.append([])  # no prediction for it; the list keeps tasks and answers aligned
                errors.append({"task": task.get("id", index), "error": failures[index][1]})
                log.warning("task %s: %s", printable(task.get("id", index)), printable(failures[index][1]))
            else:
                out.append(results.prediction(regions[index], self.model_version))
        with self._stats_lock:  # requests run on their own threads
            self.stats.tasks += len(tasks) - len(failures)
        answer = {"results": out}
        if errors:
            answer["errors"] = errors
        return answer

    # --- smart tools ----------------------------------------------------------------------------------
    def _interactive_predict(self, tasks: list[dict], config: LabelingConfig, context, deadline: float) -> dict:
        clicks = context.get("result") if isinstance(context, dict) else None
        if not isinstance(clicks, list) or not clicks:
            raise RequestError(400, "the smart-tool context has no 'result' list of keypoints or rectangles")
        task = tasks[0]
        first = clicks[0] if isinstance(clicks[0], dict) else {}
        smart = config.control(str(first.get("from_name", "")))
        if smart is None or smart.kind not in ("KeyPointLabels", "RectangleLabels"):
            raise RequestError(400, f"unknown smart control {first.get('from_name')!r}: the labeling config has "
                                    "no <KeyPointLabels> or <RectangleLabels> of that name")
        output = config.output_for(smart.to_name)
        if output is None:
            raise RequestError(400, f"no <BrushLabels> or <PolygonLabels> on the image {smart.to_name!r} of the "
                                    f"smart control {smart.name!r} to answer in")
        image = config.images[smart.to_name]
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        url = data.get(image.key)
        if not isinstance(url, str) or not url:
            raise RequestError(400, f"the task has no image URL in '{image.key}'")
        try:
            rgb = self.fetcher.read(url)
        except ImageError as exc:
            raise RequestError(exc.status, str(exc)) from None
        height, width = rgb.shape[:2]
        label, points, labels, box = _prompts(clicks, width, height)
        if output.label(label) is None:
            raise RequestError(400, f"label {label!r} of the smart control is not a label of the "
                                    f"<{output.kind} name=\"{output.name}\"> control the answer is given in")
        future = self.engine.submit(lambda: self._click(f"{url}#{width}x{height}", rgb, points, labels, box),
                                    interactive=True)
        try:
            mask, score = future.result(timeout=max(0.0, deadline - self.clock()))
        except FutureTimeout:
            future.cancel()
            raise RequestError(503, self._late()[1]) from None
        except ValueError as exc:  # prompts the model refuses (e.g. only negative points)
            raise RequestError(400, str(exc)) from None
        except Exception as exc:
            from engine import ModelNotFoundError

            if isinstance(exc, ModelNotFoundError):
                raise RequestError(503, f"the interactive model is not available: {exc}") from None
            raise
        if output.kind == "BrushLabels":
            try:
                regions = [results.brush_region(mask, output, label, score)] if mask.any() else []
            except results.BrushEncoderMissing as exc:
                raise RequestError(501, str(exc)) from None
        else:
            shape = adapter.mask_shape(label, mask, self.settings.simplify_tolerance) if mask.any() else None
            shapes = [shape.replace(score=score)] if shape is not None else []
            regions = results.polygon_results(shapes, output, width, height, {})
        with self._stats_lock:
            self.stats.interactive += 1
        return {"results": [results.prediction(regions, self.interactive_version)]}

    def _click(self, key: str, rgb, points, labels, box):
        """Engine thread: the interactive model on one image (embedding cached, as in the window)."""
        with self._interactive_lock:
            if self._interactive is None:
                self._interactive = adapter.load_interactive(self.settings)
        seg = self._interactive
        if seg.set_image(key, rgb):
            self.stats.image_encoder_runs += 1
        prediction = seg.predict(points, labels, box, image_key=key)
        return prediction.mask, float(prediction.score)


def _prompts(clicks: list, width: int, height: int):
    """(label, points [[x, y]] px, point labels 1/0, box [x0, y0, x1, y1] px or None) of a context."""
    label, points, labels, box = None, [], [], None
    for i, click in enumerate(clicks):
        if not isinstance(click, dict) or not isinstance(click.get("value"), dict):
            raise RequestError(400, f"context.result[{i}] is not a region with a 'value'")
        kind, value = click.get("type"), click["value"]
        names = value.get(kind) if isinstance(kind, str) else None
        if label is None and isinstance(names, list) and names:
            label = str(names[0])
        try:
            x = float(value["x"]) / 100.0 * width
            y = float(value["y"]) / 100.0 * height
            if kind == "keypointlabels":
                points.append([min(max(x, 0.0), width), min(max(y, 0.0), height)])
                positive = click.get("is_positive", value.get("is_positive", True))
                labels.append(0 if positive in (False, 0, "false") else 1)
            elif kind == "rectanglelabels":
                x1 = x + float(value["width"]) / 100.0 * width
                y1 = y + float(value["height"]) / 100.0 * height
                box = [max(0.0, x), max(0.0, y), min(float(width), x1), min(float(height), y1)]
            else:
                raise RequestError(400, f"context.result[{i}] is a {kind!r} region: smart tools send "
                                        "keypointlabels or rectanglelabels")
        except (KeyError, TypeError, ValueError):
            raise RequestError(400, f"context.result[{i}]: 'value' needs numeric x, y (and width, height for "
                                    "a rectangle) in percent") from None
    if label is None:
        raise RequestError(400, "the smart-tool context names no label (value.keypointlabels / rectanglelabels)")
    return label, points, labels, box


def _need_object(body, what: str) -> None:
    if not isinstance(body, dict):
        raise RequestError(400, f"{what}: the body must be a JSON object")
