"""Calibration: which engine, threshold and sharpening suit each class, learnt from reviewed images.

    from annotator.core.calibration import calibrate, CalibrationEngine, CalibrationOptions
    cal = calibrate(project, [CalibrationEngine(segmenter, model)], CalibrationOptions(classes))
    cal.choices[i].chosen / .held_out / .gain

Modules: ``truth`` (reviewed shapes), ``candidates`` (what is compared; the engine
adapter), ``cache`` (model outputs kept between calibrations), ``scoring`` (IoU,
boundary F, annotator work), ``select`` (split-half choice), ``run`` (the loop),
``report`` (PNG + HTML), ``apply`` (routes into the project's settings).
"""

from annotator.core.calibration.candidates import Candidate, CalibrationEngine
from annotator.core.calibration.run import Calibration, CalibrationOptions, calibrate, current_candidates
from annotator.core.calibration.select import ClassChoice
from annotator.core.calibration.truth import reviewed_images

__all__ = ["Calibration", "CalibrationEngine", "CalibrationOptions", "Candidate", "ClassChoice", "calibrate",
           "current_candidates", "reviewed_images"]
