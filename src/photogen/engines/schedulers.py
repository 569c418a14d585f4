"""Scheduler names a request may use, the diffusers class behind each and the name other SD tools show."""

from __future__ import annotations

from typing import Any

# request name -> (diffusers class, config overrides, sampler name as other SD tools write it)
SCHEDULERS: dict[str, tuple[str, dict[str, Any], str]] = {
    "euler": ("EulerDiscreteScheduler", {}, "Euler"),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, "Euler a"),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}, "DPM++ 2M"),
    "ddim": ("DDIMScheduler", {}, "DDIM"),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}, "PLMS"),
    "lms": ("LMSDiscreteScheduler", {}, "LMS"),
}
_BY_CLASS = {cls: name for name, (cls, _, _) in SCHEDULERS.items()}


def build_scheduler(name: str, base_config: dict[str, Any]):
    """A fresh scheduler: the model's own for "default", else the named class on the model's config."""
    import diffusers

    if name == "default":
        cls_name, overrides = base_config["_class_name"], {}
    else:
        cls_name, overrides, _ = SCHEDULERS[name]
    cls = getattr(diffusers, cls_name)
    return cls.from_config({**base_config, **overrides})


def resolved_name(name: str, base_config: dict[str, Any]) -> str:
    """The request name a "default" scheduler corresponds to, or its class name if none does."""
    if name != "default":
        return name
    cls_name = base_config["_class_name"]
    return _BY_CLASS.get(cls_name, cls_name)


def sampler_label(name: str) -> str:
    """The sampler name as the `parameters` text of other SD tools writes it."""
    return SCHEDULERS[name][2] if name in SCHEDULERS else name


# Other names AUTOMATIC1111's API takes for a sampler (k-diffusion's), beside its label and our own name.
_SAMPLER_ALIASES: dict[str, tuple[str, ...]] = {
    "euler": ("k_euler",),
    "euler_a": ("k_euler_a", "k_euler_ancestral"),
    "dpmpp_2m": ("k_dpmpp_2m",),
    "ddim": (),
    "pndm": ("plms",),
    "lms": ("k_lms",),
}


def sampler_names() -> list[tuple[str, list[str]]]:
    """Each scheduler as a sampler: (its label, the other names it answers to), in SCHEDULERS' order."""
    return [(label, [name, *_SAMPLER_ALIASES.get(name, ())]) for name, (_, _, label) in SCHEDULERS.items()]


def scheduler_for_sampler(sampler: str) -> str | None:
    """The request's scheduler for a sampler label or alias (any case), e.g. 'Euler a' -> 'euler_a'; None if unknown."""
    wanted = sampler.strip().lower()
    for name, (label, aliases) in zip(SCHEDULERS, sampler_names()):
        if wanted == label.lower() or wanted in aliases:
            return name
    return None
