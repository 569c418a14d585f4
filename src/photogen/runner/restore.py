"""A restoration: one recorded job that repairs an old photo's scan at its own size, step by step.

Steps, each kept as an asset of the job so its lineage holds them all:
scan (the before) -> damage_mask (and mask_preview) -> repair -> tones -> [colourise] -> output (the after,
once the faces' pass is done).
The output is the scan's size; its record names every step, its measures and what it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from photogen.engines.base import Generator, InterruptCheck
from photogen.engines.inpaint import inpainter_for
from photogen.engines.interrupt import InterruptibleGenerator
from photogen.outputs import SCHEMA, pixel_sha256
from photogen.restoration.colourise import check_colourise, colourise
from photogen.restoration.damage import DamageMap, find_damage, is_monochrome, mask_from_image, mask_preview
from photogen.restoration.faces import face_pass
from photogen.restoration.repair import EditRepairer, repair
from photogen.restoration.tones import measure_tones
from photogen.runner.records import Output, RunResult, software_versions

STEPS = ("damage_mask", "repair", "tones", "colourise", "faces")


def run_restore(scan: Image.Image, *, mask: Image.Image | None = None, model: Generator | None = None,
                colourise_scan: bool = False, seed: int = 0, steps: int = 20, interrupt: InterruptCheck | None = None,
                on_progress: Callable[[int, int], None] | None = None, lineage: dict[str, Any] | None = None,
                detector=None, scorer=None, check_work: Callable[[int, str], None] | None = None) -> RunResult:
    """`lineage` is what every record says about the scan (its upload id and hash, or its file). `check_work`
    (the per-request work limit) hears the model's repair work before it runs."""
    from photogen.intake.faces import default_detector
    from photogen.scoring.identity import default_identity_scorer

    lineage = dict(lineage or {})
    rgb = np.asarray(scan.convert("RGB"))
    size = (rgb.shape[1], rgb.shape[0])
    if colourise_scan and model is not None:
        check_colourise(model.info.id, model.capabilities.prompt_kind)
    generator = InterruptibleGenerator(model, interrupt) if model is not None and interrupt is not None else model
    total = len(STEPS)

    def step_done(done: int) -> None:
        if interrupt is not None:
            interrupt()
        if on_progress is not None:
            on_progress(done, total)

    def base(step: str, _image: np.ndarray) -> dict[str, Any]:
        return {"schema": SCHEMA, "kind": "restore", "step": step, **lineage, "size": list(size)}

    # 0. the scan as the job read it (upright, full size, no metadata): the "before" of a before/after view
    pieces: list[Output] = [_image_step("scan", rgb, base("scan", rgb))]
    history: list[dict[str, Any]] = []
    # 1. the damage map: found, or the user's own
    if mask is not None:
        found = DamageMap(mask=mask_from_image(np.asarray(mask), size), params={"source": "user"})
        damage = {**found.report(), "source": "user"}
    else:
        found = find_damage(rgb)
        damage = {**found.report(), "source": "detected"}
    mask_pixels = (found.mask.astype(np.uint8) * 255)
    mask_image = Image.fromarray(mask_pixels, "L")
    pieces.append(Output("damage_mask", 0, None, mask_image, {**base("damage_mask", mask_pixels), "damage": damage}))
    preview = Image.fromarray(mask_preview(rgb, found.mask), "RGB")
    pieces.append(Output("mask_preview", 0, None, preview, {**base("mask_preview", rgb), "damage": damage,
                                                            "preview_of": "damage_mask"}))
    history.append({"step": "damage_mask", **damage})
    step_done(1)
    # 2. repair at full resolution: the model's inpainting pipeline when it has one, an instruction-edit model
    # told to repair, else OpenCV
    inpainter = inpainter_for(generator)
    editor = None
    if inpainter is None and generator is not None and generator.capabilities.prompt_kind == "instruction":
        editor = EditRepairer(generator)
    repaired, how = repair(rgb, found.mask, inpainter=inpainter, editor=editor, seed=seed, steps=steps,
                           interrupt=interrupt, check_work=check_work)
    if model is not None and inpainter is None and editor is None:
        how["note"] = (f"model {model.info.id} has no inpainting pipeline here and takes no instructions; "
                       "OpenCV repaired")
    pieces.append(_image_step("repair", repaired, {**base("repair", repaired), "repair": how}))
    history.append({"step": "repair", **how})
    step_done(2)
    # 3. tones and colour: measured black and white points, per-channel curves on a monochrome print
    monochrome = is_monochrome(repaired)
    correction = measure_tones(repaired, exclude=found.mask, balance=monochrome)
    toned = correction.apply(repaired)
    tones = {**correction.as_dict(), "monochrome": monochrome}
    pieces.append(_image_step("tones", toned, {**base("tones", toned), "tones": tones}))
    history.append({"step": "tones", **tones})
    step_done(3)
    # 4. colourisation, asked for, of a black-and-white scan, by a model that follows instructions
    current = toned
    if colourise_scan:
        if model is None:
            colour = {"done": False, "note": "no model was named; colourising needs an instruction-edit model"}
        elif not monochrome:
            colour = {"done": False, "note": "the scan is already in colour"}
        else:
            current, colour = colourise(toned, generator, seed=seed, steps=steps, interrupt=interrupt)
            colour["done"] = True
            pieces.append(_image_step("colourise", current, {**base("colourise", current), "colourise": colour}))
        history.append({"step": "colourise", **colour})
    step_done(4)
    # 5. the faces: a gentle pass, identity measured before and after, drift flagged (and undone)
    detector = detector or default_detector()
    scorer = scorer or default_identity_scorer()
    face_model = generator if generator is not None and generator.capabilities.image_strength else None
    final, faces = face_pass(current, detector=detector, scorer=scorer, generator=face_model, seed=seed, steps=steps,
                             interrupt=interrupt)
    if generator is not None and face_model is None:
        faces["note"] = (f"model {generator.info.id} starts from noise (no image strength), too far from a gentle "
                         "pass: OpenCV's denoise evened the faces")
    overall = scorer.score(rgb, final)
    faces["identity"] = overall.as_dict()
    history.append({"step": "faces", **faces})
    step_done(5)
    record = {
        "schema": SCHEMA, "kind": "restore", **lineage, "size": list(size),
        "restoration": {"steps": history, "damage": damage, "model": model.info.id if model is not None else None,
                        "seed": seed, "model_steps": steps, "colourise": colourise_scan},
        "pixel_sha256": pixel_sha256(Image.fromarray(final, "RGB")),
        "software": software_versions(),
    }
    pieces.append(Output("output", 0, seed, Image.fromarray(final, "RGB"), record,
                         scores={"identity": overall.similarity, "identity_drift": overall.drift,
                                 "damage_area_share": damage["area_share"]}))
    return RunResult(pieces, steps=total)


def _image_step(step: str, pixels: np.ndarray, record: dict[str, Any]) -> Output:
    image = Image.fromarray(pixels, "RGB")
    return Output(step, 0, None, image, {**record, "pixel_sha256": pixel_sha256(image)})
