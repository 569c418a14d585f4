"""Camera metadata: read what the report needs, and decide what a derivative may carry.

Derivatives (thumbnails, crops, generation inputs) are written without the source's EXIF, XMP or IPTC.
Where a derivative should say which camera took the photo, `derivative_exif` builds a fresh EXIF block
from an allow-list, so GPS, serial numbers, owner names and maker notes can never be copied across.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from PIL import ExifTags, Image

_IFD0 = ExifTags.Base
_EXIF_IFD = ExifTags.IFD.Exif
_GPS_IFD = ExifTags.IFD.GPSInfo

# Tags that identify a person or a device, or may hold anything (maker notes).
_SERIAL_TAGS = (
    _IFD0.BodySerialNumber,
    _IFD0.LensSerialNumber,
    _IFD0.CameraOwnerName,
    _IFD0.ImageUniqueID,
    0xC62F,  # CameraSerialNumber (DNG)
)

# The only tags `derivative_exif` writes.
DERIVATIVE_TAGS = ("Model", "DateTimeOriginal", "LensModel")

_EXIF_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, SyntaxError, struct.error, UserWarning)


@dataclass(frozen=True)
class PhotoMetadata:
    """What the camera wrote, as the preflight report shows it; flags for what derivatives leave out."""

    camera: str | None = None  # "Canon EOS R6"
    lens: str | None = None
    captured_at: str | None = None  # ISO 8601 local time as the camera recorded it
    software: str | None = None  # the program that last wrote the file
    orientation: int = 1  # EXIF orientation, 1 = upright as stored
    iso: int | None = None
    exposure_time_s: float | None = None
    f_number: float | None = None
    focal_length_mm: float | None = None
    has_gps: bool = False
    has_serial_numbers: bool = False  # body/lens serial, owner name, unique id
    has_maker_note: bool = False
    has_xmp: bool = False

    @property
    def has_camera_data(self) -> bool:
        return self.camera is not None or self.captured_at is not None or self.iso is not None

    @property
    def removed_from_derivatives(self) -> tuple[str, ...]:
        """The private data found in the file that no derivative carries."""
        found = (
            ("GPS location", self.has_gps),
            ("serial numbers", self.has_serial_numbers),
            ("maker notes", self.has_maker_note),
            ("XMP metadata", self.has_xmp),
        )
        return tuple(name for name, present in found if present)

    def as_dict(self) -> dict[str, object]:
        return {
            "camera": self.camera,
            "lens": self.lens,
            "captured_at": self.captured_at,
            "software": self.software,
            "orientation": self.orientation,
            "iso": self.iso,
            "exposure_time_s": self.exposure_time_s,
            "f_number": self.f_number,
            "focal_length_mm": self.focal_length_mm,
            "removed_from_derivatives": list(self.removed_from_derivatives),
        }


def read_metadata(image: Image.Image) -> PhotoMetadata:
    """Metadata of an opened (not necessarily loaded) image. Damaged EXIF reads as no EXIF."""
    has_xmp = bool(image.info.get("xmp") or image.info.get("XML:com.adobe.xmp"))
    try:
        exif = image.getexif()
        details = exif.get_ifd(_EXIF_IFD) if _EXIF_IFD in exif else {}
        gps = exif.get_ifd(_GPS_IFD) if _GPS_IFD in exif else {}
    except _EXIF_ERRORS:
        return PhotoMetadata(has_xmp=has_xmp)
    make = _text(exif.get(_IFD0.Make))
    model = _text(exif.get(_IFD0.Model))
    orientation = exif.get(_IFD0.Orientation, 1)
    return PhotoMetadata(
        camera=_camera_name(make, model),
        lens=_text(details.get(_IFD0.LensModel)),
        captured_at=_iso_time(_text(details.get(_IFD0.DateTimeOriginal)) or _text(exif.get(_IFD0.DateTime))),
        software=_text(exif.get(_IFD0.Software)),
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1,
        iso=_integer(details.get(_IFD0.ISOSpeedRatings)),
        exposure_time_s=_number(details.get(_IFD0.ExposureTime)),
        f_number=_number(details.get(_IFD0.FNumber)),
        focal_length_mm=_number(details.get(_IFD0.FocalLength)),
        has_gps=bool(gps) or _GPS_IFD in exif,
        has_serial_numbers=any(tag in details or tag in exif for tag in _SERIAL_TAGS),
        has_maker_note=_IFD0.MakerNote in details,
        has_xmp=has_xmp,
    )


def derivative_exif(metadata: PhotoMetadata) -> Image.Exif:
    """A fresh EXIF block with only the allow-listed descriptive tags (see DERIVATIVE_TAGS)."""
    exif = Image.Exif()
    if metadata.camera:
        exif[_IFD0.Model] = metadata.camera
    details: dict[int, str] = {}
    if metadata.captured_at:
        details[_IFD0.DateTimeOriginal] = metadata.captured_at.replace("-", ":", 2).replace("T", " ")
    if metadata.lens:
        details[_IFD0.LensModel] = metadata.lens
    if details:
        exif[_EXIF_IFD] = details
    return exif


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _camera_name(make: str | None, model: str | None) -> str | None:
    if model and make and not model.lower().startswith(make.split()[0].lower()):
        return f"{make} {model}"
    return model or make


def _iso_time(value: str | None) -> str | None:
    """EXIF's "YYYY:MM:DD HH:MM:SS" as ISO 8601; anything else is dropped."""
    if not value or len(value) < 19 or value[4] != ":" or value[7] != ":":
        return None
    date, _, clock = value[:19].partition(" ")
    iso = f"{date.replace(':', '-')}T{clock}"
    return iso if iso[:4].isdigit() and iso[:4] != "0000" else None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # IFDRational, int or float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return round(number, 6) if math.isfinite(number) and number > 0 else None


def _integer(value: object) -> int | None:
    if isinstance(value, tuple) and value:
        value = value[0]
    number = _number(value)
    return int(number) if number is not None else None
