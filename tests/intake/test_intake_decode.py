"""Safe decoding: formats and pixel modes normalised to RGB, reduced JPEG decoding, and EXIF privacy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import ExifTags, Image

from photogen.domain.errors import ImageUnreadable
from photogen.intake import calibration as degrade
from photogen.intake.crop import CropPlan, crop_decoded
from photogen.intake.decode import DecodedImage, decode_image
from photogen.intake.derivatives import encode_derivative, thumbnail
from photogen.intake.metadata import PhotoMetadata
from photogen.intake.pipeline import intake_photo


def _save(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def test_decoded_image_keeps_the_short_form(astronaut):
    decoded = DecodedImage(Image.fromarray(astronaut), "PNG", "0" * 64, (512, 512))
    assert decoded.size == (512, 512) and decoded.scale == 1.0 and decoded.metadata == PhotoMetadata()


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_decode_to_rgb(astronaut, format):
    decoded = decode_image(_save(Image.fromarray(astronaut), format, quality=95))
    assert decoded.image.mode == "RGB" and decoded.image.size == (512, 512)
    assert decoded.format == format
    assert np.abs(np.asarray(decoded.image, np.int16) - astronaut).mean() < 3


def test_progressive_jpeg_decodes(astronaut):
    decoded = decode_image(_save(Image.fromarray(astronaut), "JPEG", quality=90, progressive=True))
    assert decoded.format == "JPEG" and decoded.jpeg_quality == 90


def test_mpo_camera_file_uses_its_primary_image(astronaut):
    first, preview = Image.fromarray(astronaut), Image.fromarray(255 - astronaut)
    decoded = decode_image(_save(first, "MPO", save_all=True, append_images=[preview], quality=95))
    assert decoded.format == "JPEG"
    assert np.abs(np.asarray(decoded.image, np.int16) - astronaut).mean() < 3


def test_rgba_and_palette_transparency_are_composited_on_white():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:8, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    decoded = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    pixels = np.asarray(decoded.image)
    assert tuple(pixels[0, 0]) == (200, 0, 0) and tuple(pixels[-1, -1]) == (255, 255, 255)
    assert "transparency composited on white" in decoded.conversions
    palette = Image.fromarray(rgba, "RGBA").convert("P")
    palette.info["transparency"] = palette.getpixel((0, 15))
    assert tuple(np.asarray(decode_image(_save(palette, "PNG")).image)[-1, -1]) == (255, 255, 255)


def test_16_bit_grey_png_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(1, 256).repeat(4, axis=0)
    decoded = decode_image(_save(Image.fromarray(ramp), "PNG"))
    pixels = np.asarray(decoded.image)[0, :, 0].astype(int)
    assert pixels[0] == 0 and pixels[-1] == 255 and abs(pixels[128] - 128) <= 1
    assert np.all(np.diff(pixels) >= 0) and "16-bit samples scaled to 8 bits" in decoded.conversions


def test_cmyk_jpeg_becomes_rgb_with_its_colours(astronaut):
    cmyk = Image.fromarray(astronaut).convert("CMYK")
    decoded = decode_image(_save(cmyk, "JPEG", quality=95))
    assert decoded.source_mode == "CMYK" and decoded.image.mode == "RGB"
    assert np.abs(np.asarray(decoded.image, np.int16) - astronaut).mean() < 6


def test_embedded_srgb_profile_leaves_pixels_alone(astronaut):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    same = decode_image(_save(Image.fromarray(astronaut), "PNG", icc_profile=srgb))
    assert "colour profile converted to sRGB" not in same.conversions
    assert np.array_equal(np.asarray(same.image), astronaut)


def test_large_jpeg_decodes_reduced_and_crops_in_full_size_coordinates(astronaut):
    import cv2

    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    data = degrade.jpeg_bytes(big, 92)
    full = decode_image(data)
    reduced = decode_image(data, min_long_side=768)
    assert reduced.image.size == (1024, 1024) and reduced.scale == 0.5 and reduced.size == (2048, 2048)
    assert decode_image(data, min_scale=0.2).image.size == (512, 512)
    plan = CropPlan(box=(400, 200, 1200, 1200), output_size=(320, 400))
    a = np.asarray(crop_decoded(full, plan), np.int16)
    b = np.asarray(crop_decoded(reduced, plan), np.int16)
    assert a.shape == b.shape == (400, 320, 3) and np.abs(a - b).mean() < 4
    assert intake_photo(data).decoded.image.size == (1024, 1024)  # intake asks for >= 768 px


def _rotated_jpeg_with_gps(upright: np.ndarray) -> bytes:
    """The astronaut stored sideways with EXIF orientation 6, GPS, a serial number and a maker note."""
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS R6"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Software] = "Adobe Photoshop 25.0"
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "2024:05:01 10:22:03",
        ExifTags.Base.LensModel: "RF24-105mm F4 L IS USM",
        ExifTags.Base.BodySerialNumber: "123456789",
        ExifTags.Base.MakerNote: b"private maker data",
        ExifTags.Base.ISOSpeedRatings: 400,
    }
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_is_applied_and_camera_data_read(astronaut):
    decoded = decode_image(_rotated_jpeg_with_gps(astronaut))
    assert decoded.original_size == (512, 512) and decoded.metadata.orientation == 6
    assert np.abs(np.asarray(decoded.image, np.int16) - astronaut).mean() < 3
    assert any("EXIF orientation 6" in note for note in decoded.conversions)
    meta = decoded.metadata
    assert meta.camera == "Canon EOS R6" and meta.lens == "RF24-105mm F4 L IS USM"
    assert meta.captured_at == "2024-05-01T10:22:03" and meta.software == "Adobe Photoshop 25.0"
    assert meta.iso == 400
    assert meta.removed_from_derivatives == ("GPS location", "serial numbers", "maker notes")


def test_sideways_photo_decoded_reduced_is_upright_in_full_size_coordinates(astronaut):
    import cv2

    wide = cv2.resize(astronaut, (2400, 1600))
    stored = Image.fromarray(wide).transpose(Image.Transpose.ROTATE_90)  # 1600 wide, 2400 tall as stored
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    decoded = decode_image(_save(stored, "JPEG", quality=90, exif=exif.tobytes()), min_long_side=768)
    assert decoded.original_size == (1600, 2400) and decoded.size == (2400, 1600)
    assert decoded.image.size == (1200, 800) and decoded.scale == 0.5


def test_derivatives_carry_no_gps_serial_or_maker_note(astronaut):
    result = intake_photo(_rotated_jpeg_with_gps(astronaut))
    with Image.open(io.BytesIO(result.thumbnail)) as thumb:
        exif = thumb.getexif()
        assert thumb.size == (512, 512) and len(exif) == 0 and "icc_profile" not in thumb.info
    tagged = encode_derivative(result.decoded.image, "JPEG", metadata=result.decoded.metadata)
    with Image.open(io.BytesIO(tagged)) as image:
        exif = image.getexif()
        details = exif.get_ifd(ExifTags.IFD.Exif)
        assert exif[ExifTags.Base.Model] == "Canon EOS R6"
        assert details[ExifTags.Base.DateTimeOriginal] == "2024:05:01 10:22:03"
        assert ExifTags.IFD.GPSInfo not in exif and not exif.get_ifd(ExifTags.IFD.GPSInfo)
        assert ExifTags.Base.BodySerialNumber not in details and ExifTags.Base.MakerNote not in details
        assert ExifTags.Base.Orientation not in exif  # pixels are upright already


def test_thumbnail_never_enlarges(astronaut):
    small = Image.fromarray(astronaut[:100, :80])
    assert thumbnail(small).size == (80, 100)
    assert thumbnail(Image.fromarray(astronaut), 256).size == (256, 256)


def test_damaged_exif_reads_as_no_camera_data(astronaut):
    data = _save(Image.fromarray(astronaut), "JPEG", quality=90, exif=b"Exif\x00\x00MM\x00*garbage")
    with pytest.warns(UserWarning, match="Corrupt EXIF"):  # Pillow's own notice; the photo still decodes
        decoded = decode_image(data)
    assert decoded.metadata.camera is None and decoded.image.size == (512, 512)


@pytest.mark.parametrize(
    ("claimed", "accepted"),
    [("photo.jpg", True), ("image/jpeg", True), ("PHOTO.JPEG", True), ("photo.png", False), ("image/webp", False),
     ("upload.bin", True), (None, True)],
)  # fmt: skip
def test_claimed_type_must_match_the_bytes(astronaut, claimed, accepted):
    data = degrade.jpeg_bytes(astronaut, 90)
    if accepted:
        assert decode_image(data, claimed_type=claimed).format == "JPEG"
    else:
        with pytest.raises(ImageUnreadable) as refused:
            decode_image(data, claimed_type=claimed)
        assert refused.value.code == "image_type_mismatch" and "JPEG" in refused.value.message
