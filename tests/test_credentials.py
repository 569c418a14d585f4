"""Content Credentials: a signed output validates, names its software, actions and source, and
keeps its text chunks; tampering shows; the development identity is made once."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct

import pytest
from PIL import Image, PngImagePlugin

from photogen.provenance.credentials import (
    DEVELOPMENT_ORGANIZATION,
    ROOT_CERT_FILE,
    ROOT_KEY_FILE,
    SIGNER_CHAIN_FILE,
    SIGNER_KEY_FILE,
    TRAINED_ALGORITHMIC_MEDIA,
    CredentialsError,
    development_identity,
    development_trust_anchor,
    load_identity,
    read_credentials,
    sign_png,
)

RECORD = {"schema": "photogen.output/1", "seed": 7, "prompt": "studio portrait, café light, 東京"}
PARAMETERS = "studio portrait\nSteps: 2, Seed: 7, Version: photogen 0.1.0"
ACTIONS = [
    {"action": "c2pa.opened"},
    {"action": "c2pa.cropped", "parameters": {"left": 64, "top": 0, "width": 384, "height": 384}},
    {
        "action": "c2pa.edited",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": "photogen", "version": "0.1.0"},
        "parameters": {"model": "tiny", "seed": 7},
    },
]


@pytest.fixture(scope="module")
def identity_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("credentials")


@pytest.fixture(scope="module")
def source_jpeg(astronaut_jpeg) -> bytes:
    return astronaut_jpeg.read_bytes()


@pytest.fixture(scope="module")
def output_png(astronaut_jpeg) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PARAMETERS)
    info.add_text("photogen", json.dumps(RECORD, ensure_ascii=False))  # non-Latin-1: an iTXt chunk
    buffer = io.BytesIO()
    with Image.open(astronaut_jpeg) as image:
        image.convert("RGB").crop((64, 0, 448, 384)).resize((128, 128)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def signed(output_png, source_jpeg, identity_folder) -> bytes:
    return sign_png(
        output_png,
        development_identity(identity_folder),
        title="portrait-0001.png",
        actions=ACTIONS,
        ingredient_png_or_jpeg=source_jpeg,
        ingredient_title="upload 3f2a astronaut.jpg",
        ingredient_format="image/jpeg",
        software="photogen 0.1.0",
        extra_assertions={"org.photogen.generation": {"model": "tiny", "seed": 7, "recipe": "headshot@2"}},
    )


def test_a_signed_output_names_software_actions_and_source(signed, source_jpeg):
    report = read_credentials(signed)

    assert report.valid and report.validation_state == "Valid", report.errors
    assert not report.trusted  # nobody told this reader about the development root
    assert report.errors == []
    assert report.software == "photogen 0.1.0"
    assert report.action_names == ["c2pa.opened", "c2pa.cropped", "c2pa.edited"]
    assert report.actions[2]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert report.actions[1]["parameters"]["width"] == 384
    [source] = report.ingredients
    assert source.title == "upload 3f2a astronaut.jpg"
    assert source.relationship == "parentOf"
    assert source.format == "image/jpeg"
    assert source.sha256 == hashlib.sha256(source_jpeg).hexdigest()
    assert report.assertions["org.photogen.generation"]["recipe"] == "headshot@2"


def test_the_development_signer_is_labelled_as_such(signed):
    report = read_credentials(signed)

    assert report.development
    assert report.issuer == DEVELOPMENT_ORGANIZATION
    assert "development" in report.signer


def test_trusted_when_the_development_root_is_the_trust_anchor(signed, identity_folder):
    report = read_credentials(signed, trust_anchor_pem=development_trust_anchor(identity_folder))

    assert report.trusted and report.valid and report.validation_state == "Trusted"


def test_text_chunks_survive_signing(signed):
    with Image.open(io.BytesIO(signed)) as image:
        assert json.loads(image.text["photogen"]) == RECORD
        assert image.text["parameters"] == PARAMETERS
        image.load()  # the pixels decode too


def _chunk_data_offset(png: bytes, kind: bytes) -> tuple[int, int]:
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        if png[position + 4 : position + 8] == kind:
            return position + 8, length
        position += 12 + length
    raise AssertionError(f"no {kind!r} chunk")


@pytest.mark.parametrize(
    ("chunk", "code"), [(b"IDAT", "assertion.dataHash.mismatch"), (b"caBX", "claimSignature")]
)
def test_one_flipped_byte_makes_it_invalid(signed, chunk, code):
    start, length = _chunk_data_offset(signed, chunk)
    tampered = bytearray(signed)
    tampered[start + length // 2] ^= 0x01

    report = read_credentials(bytes(tampered))

    assert not report.valid and not report.trusted
    assert report.validation_state == "Invalid"
    assert any(error.startswith(code) for error in report.errors), report.errors


def test_a_png_without_credentials_reads_as_absent(output_png):
    report = read_credentials(output_png)

    assert report.validation_state == "Absent" and not report.valid


def test_the_development_identity_is_made_once_and_reused(tmp_path):
    folder = tmp_path / "credentials"
    first = development_identity(folder)
    files = {
        name: (folder / name).read_bytes()
        for name in (ROOT_CERT_FILE, ROOT_KEY_FILE, SIGNER_CHAIN_FILE, SIGNER_KEY_FILE)
    }

    second = development_identity(folder)

    assert second == first and first.development
    assert {name: (folder / name).read_bytes() for name in files} == files
    for name in files:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert load_identity(folder / SIGNER_CHAIN_FILE, folder / SIGNER_KEY_FILE) == first
    assert "key_pem" not in repr(first) and "PRIVATE" not in repr(first)


def test_generation_is_an_edit_of_the_opened_upload_not_a_creation(output_png, source_jpeg, identity_folder):
    created = [ACTIONS[0], {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]
    with pytest.raises(CredentialsError, match="never created"):
        sign_png(
            output_png,
            development_identity(identity_folder),
            title="x.png",
            actions=created,
            ingredient_png_or_jpeg=source_jpeg,
            ingredient_title="upload",
            ingredient_format="image/jpeg",
        )


def test_a_new_signer_chains_to_the_same_development_root(tmp_path, output_png, source_jpeg):
    folder = tmp_path / "credentials"
    first = development_identity(folder)
    (folder / SIGNER_CHAIN_FILE).unlink()

    renewed = development_identity(folder)
    signed = sign_png(
        output_png,
        renewed,
        title="x.png",
        actions=ACTIONS[:1],
        ingredient_png_or_jpeg=source_jpeg,
        ingredient_title="upload",
        ingredient_format="image/jpeg",
    )

    assert renewed.key_pem != first.key_pem
    assert read_credentials(signed, trust_anchor_pem=development_trust_anchor(folder)).trusted


def test_an_unreadable_identity_is_a_clear_error(tmp_path):
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")

    with pytest.raises(CredentialsError, match="could not be read"):
        load_identity(tmp_path / "cert.pem", tmp_path / "key.pem")
