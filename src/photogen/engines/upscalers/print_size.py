"""Print-size guidance: how many pixels a print needs, and which upscale factor gets there.

A print needs (print size in inches) x DPI pixels on each side: 300 DPI is the usual standard for prints
looked at from arm's length (a 12 in t-shirt print is 3600 px wide), large formats seen from a distance
get by with 150 or less. The factor needed is the larger of the two sides' ratios, so the image covers the
whole print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from photogen.domain.errors import InvalidRequest
from photogen.engines.upscalers.base import UPSCALE_FACTORS

CM_PER_INCH = 2.54
DEFAULT_PRINT_DPI = 300
FACTORS_CONSIDERED = (1, *UPSCALE_FACTORS)  # 1: the image as it is
RATIO_TOLERANCE = 0.02  # shapes closer than this count as the same

PrintUnit = Literal["in", "cm"]


@dataclass(frozen=True)
class PrintGuidance:
    image_px: tuple[int, int]
    print_size: tuple[float, float]
    unit: str
    dpi: int
    required_px: tuple[int, int]
    factor_needed: float  # how many times larger the image must become (1.0 or less: big enough already)
    achievable_factors: tuple[int, ...]  # the factors (1, 2, 4) that reach the print's DPI
    recommended_factor: int | None  # the smallest of those; None when even x4 falls short
    dpi_by_factor: dict[int, float]  # the DPI the print gets with each factor
    warning: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_px": list(self.image_px),
            "print_size": [self.print_size[0], self.print_size[1], self.unit],
            "dpi": self.dpi,
            "required_px": list(self.required_px),
            "factor_needed": round(self.factor_needed, 2),
            "achievable_factors": list(self.achievable_factors),
            "recommended_factor": self.recommended_factor,
            "dpi_by_factor": {str(f): round(d, 1) for f, d in self.dpi_by_factor.items()},
            "warning": self.warning,
        }


def print_guidance(
    width: int,
    height: int,
    print_w: float,
    print_h: float,
    unit: PrintUnit = "in",
    dpi: int = DEFAULT_PRINT_DPI,
    chosen_factor: int | None = None,
) -> PrintGuidance:
    """What a `width` x `height` px image needs to print at `print_w` x `print_h` `unit` and `dpi`;
    `chosen_factor`, when given, is checked and warned about if it falls short."""
    # 1. check inputs
    if width < 1 or height < 1:
        raise InvalidRequest(f"image size {width}x{height} px must be positive")
    if not (0.01 <= print_w <= 100_000 and 0.01 <= print_h <= 100_000):
        raise InvalidRequest(f"print size {print_w}x{print_h} {unit} is out of range", hint="give sides from 0.01 to 100000")
    if unit not in ("in", "cm"):
        raise InvalidRequest(f"unknown print unit {unit!r}", hint="use in or cm")
    if not 1 <= dpi <= 2400:
        raise InvalidRequest(f"DPI {dpi} must be between 1 and 2400")
    if chosen_factor is not None and chosen_factor not in FACTORS_CONSIDERED:
        raise InvalidRequest(f"factor {chosen_factor} is not one photogen makes", hint="use 1, 2 or 4")

    # 2. pixels the print needs, and the factor that gives them
    inches = (print_w, print_h) if unit == "in" else (print_w / CM_PER_INCH, print_h / CM_PER_INCH)
    required = (round(inches[0] * dpi), round(inches[1] * dpi))
    needed = max(required[0] / width, required[1] / height)
    # the DPI is set by the side that covers the print least
    dpi_by_factor = {f: min(f * width / inches[0], f * height / inches[1]) for f in FACTORS_CONSIDERED}
    achievable = tuple(
        f for f in FACTORS_CONSIDERED if f * width >= required[0] and f * height >= required[1]
    )
    recommended = achievable[0] if achievable else None

    # 3. say what falls short
    size_text = f"{_number(print_w)}x{_number(print_h)} {unit}"
    notes = []
    if chosen_factor is not None and chosen_factor not in achievable:
        notes.append(
            f"x{chosen_factor} gives {chosen_factor * width}x{chosen_factor * height} px, "
            f"{dpi_by_factor[chosen_factor]:.0f} DPI at {size_text}; {dpi} DPI needs "
            f"{required[0]}x{required[1]} px (x{needed:.1f})"
            + (f": choose x{recommended}" if recommended else "")
        )
    if recommended is None:
        largest = FACTORS_CONSIDERED[-1]
        most_inches = (largest * width / dpi, largest * height / dpi)
        if unit == "cm":
            most_inches = (most_inches[0] * CM_PER_INCH, most_inches[1] * CM_PER_INCH)
        notes.append(
            f"even x{largest} reaches only {dpi_by_factor[largest]:.0f} DPI at {size_text} "
            f"(x{needed:.1f} would be needed); at {dpi} DPI it prints up to "
            f"{most_inches[0]:.1f}x{most_inches[1]:.1f} {unit}; large prints seen from afar often use 150 DPI or less"
        )
    if abs((width / height) / (print_w / print_h) - 1.0) > RATIO_TOLERANCE:
        notes.append("the print's shape differs from the image's: it will be cropped or get borders")
    return PrintGuidance(
        image_px=(width, height),
        print_size=(float(print_w), float(print_h)),
        unit=unit,
        dpi=dpi,
        required_px=required,
        factor_needed=needed,
        achievable_factors=achievable,
        recommended_factor=recommended,
        dpi_by_factor=dpi_by_factor,
        warning="; ".join(notes) if notes else None,
    )


def _number(value: float) -> str:
    return f"{value:g}"
