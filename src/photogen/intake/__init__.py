"""Intake: everything that happens to an upload before generation.

decode (safe decoding to RGB), metadata (camera data, privacy), preflight (the checks) with measures,
faces, saliency and thresholds (every limit), report (the PreflightReport), presets and crop (crop
planning), derivatives (metadata-free outputs), pipeline (`intake_photo`, `frame_photo`), calibration
(how the thresholds were set). See docs/intake.md.
"""
