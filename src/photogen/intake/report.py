"""The preflight report: named checks, each with a level, the measured value, its threshold and a fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from photogen.intake.thresholds import Level, Threshold

if TYPE_CHECKING:
    from photogen.intake.crop import PresetCrop
    from photogen.intake.faces import Face
    from photogen.intake.metadata import PhotoMetadata


@dataclass(frozen=True)
class Check:
    """One finding. `value` is what was measured (in `threshold.unit`); `fix` is empty when the level is ok."""

    name: str
    level: Level
    value: float | int | None
    threshold: Threshold
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level.value,
            "value": self.value,
            "unit": self.threshold.unit,
            "threshold": self.threshold.as_dict(),
            "message": self.message,
            "fix": self.fix,
        }


def measured_check(threshold: Threshold, value: float, message: str, fixes: dict[Level, str] | str) -> Check:
    """The check `threshold` makes of `value`: its level, the value rounded for people, and the fix for that level."""
    level = threshold.level(value)
    fix = "" if level is Level.OK else (fixes if isinstance(fixes, str) else fixes.get(level, ""))
    return Check(threshold.name, level, rounded(value), threshold, message, fix)


def rounded(value: float) -> float | int:
    if isinstance(value, int):
        return value
    return round(value, 3) if abs(value) < 10 else round(value, 1)


@dataclass(frozen=True)
class SourceSummary:
    """The upload as decoded: full size, format and what was done to reach RGB."""

    format: str
    size: tuple[int, int]  # full size, upright
    megapixels: float
    sha256: str
    byte_count: int
    analysed_size: tuple[int, int]  # the pixels the checks measured
    jpeg_quality: int | None = None
    conversions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "size": list(self.size),
            "megapixels": round(self.megapixels, 2),
            "sha256": self.sha256,
            "byte_count": self.byte_count,
            "analysed_size": list(self.analysed_size),
            "jpeg_quality": self.jpeg_quality,
            "conversions": list(self.conversions),
        }


@dataclass(frozen=True)
class PreflightReport:
    """Everything intake found about one photo for one use, before any GPU time is spent."""

    use: str
    source: SourceSummary
    metadata: PhotoMetadata
    checks: tuple[Check, ...]
    faces: tuple[Face, ...] = ()  # in full-size source coordinates, largest first
    crop: PresetCrop | None = None  # the planned crop for the use's preset, if it has one
    skipped: tuple[str, ...] = field(default=())  # checks that could not be measured, with why

    @property
    def level(self) -> Level:
        return Level.worst([check.level for check in self.checks])

    @property
    def blocked(self) -> bool:
        return self.level is Level.BLOCK

    def check(self, name: str) -> Check | None:
        return next((check for check in self.checks if check.name == name), None)

    def findings(self) -> tuple[Check, ...]:
        """The checks that are not ok, worst first."""
        return tuple(
            sorted(
                (check for check in self.checks if check.level is not Level.OK), key=lambda c: -c.level.rank
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "use": self.use,
            "level": self.level.value,
            "source": self.source.as_dict(),
            "metadata": self.metadata.as_dict(),
            "faces": [face.as_dict() for face in self.faces],
            "crop": self.crop.as_dict() if self.crop is not None else None,
            "checks": [check.as_dict() for check in self.checks],
            "skipped": list(self.skipped),
        }
