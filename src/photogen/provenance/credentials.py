"""Content Credentials (C2PA) for output PNGs: sign them, and read them back.

A signed output carries a manifest naming the software, the actions that made it (opened the
upload, cropped, edited with a trained model, ...) and the source upload as its parent
ingredient. The manifest's hash binds the pixels and every other chunk, so our `photogen` and
`parameters` text chunks stay in the file and stay covered by the signature.

Signing is offline: no time-stamp authority, no OCSP, no remote manifests. Without a configured
certificate, a development identity (a local root CA and a signer certificate, both named as
photogen development certificates, not for publishing) is made on first use and reused.

Manifests carry no thumbnails unless asked: an ingredient thumbnail is a small copy of the
upload, and an output that is shared should not carry the original photo along with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from filelock import FileLock

from photogen import __version__
from photogen.domain.errors import PhotogenError

DEVELOPMENT_ORGANIZATION = "photogen development certificate - NOT FOR PUBLISHING"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
INGREDIENT_SHA256_KEY = "org.photogen.sha256"

ROOT_CERT_FILE = "root-ca.pem"
ROOT_KEY_FILE = "root-ca.key.pem"
SIGNER_CHAIN_FILE = "signer-chain.pem"
SIGNER_KEY_FILE = "signer.key.pem"

_ROOT_LIFETIME = dt.timedelta(days=3650)
_SIGNER_LIFETIME = dt.timedelta(days=730)
_RENEW_BEFORE = dt.timedelta(days=30)
_SOURCE_LABEL = "source"
_ACTIONS_LABELS = {"c2pa.actions", "c2pa.actions.v2"}
_TEXT_CHUNKS = {b"tEXt", b"iTXt", b"zTXt"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Not failures of the file: the signer is unknown to this reader (`trusted` says so) or the
# library did not go online to check revocation.
_NOT_ERRORS = {"signingCredential.untrusted", "signingCredential.ocsp.skipped"}


class CredentialsError(PhotogenError):
    code = "credentials_error"


# --- signing identities -----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate chain (signer first, PEM) and the signer's private key (PEM)."""

    cert_chain_pem: bytes
    key_pem: bytes
    development: bool

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"SigningIdentity(development={self.development}, chain={len(self.cert_chain_pem)} bytes)"

    def algorithm(self) -> c2pa.C2paSigningAlg:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            by_curve = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
            if key.curve.name in by_curve:
                return c2pa.C2paSigningAlg[by_curve[key.curve.name]]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return c2pa.C2paSigningAlg.ED25519
        if isinstance(key, rsa.RSAPrivateKey):
            return c2pa.C2paSigningAlg.PS256
        raise CredentialsError(
            f"unsupported signing key {type(key).__name__}",
            hint="use an EC P-256/P-384/P-521, Ed25519 or RSA key",
        )


def load_identity(cert_path: Path, key_path: Path) -> SigningIdentity:
    """A configured identity: the certificate chain file (signer first) and its unencrypted key."""
    try:
        chain_pem, key_pem = Path(cert_path).read_bytes(), Path(key_path).read_bytes()
        signer = x509.load_pem_x509_certificates(chain_pem)[0]
        serialization.load_pem_private_key(key_pem, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CredentialsError(
            f"the signing certificate or key could not be read ({type(exc).__name__})",
            hint="give a PEM certificate chain (signer first) and an unencrypted PEM private key",
        ) from None
    return SigningIdentity(chain_pem, key_pem, development=_is_development(signer.subject))


def development_identity(folder: Path) -> SigningIdentity:
    """The local development identity in `folder`, made on first use and reused afterwards.

    A root CA signs the signer certificate; pass `development_trust_anchor(folder)` to
    `read_credentials` to see outputs as trusted on this machine. The signer certificate is
    renewed under the same root when it is about to expire. Files are readable by the owner only.
    """
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock")):
        root_cert, root_key = _load_or_make_root(folder)
        chain_path, key_path = folder / SIGNER_CHAIN_FILE, folder / SIGNER_KEY_FILE
        if not (chain_path.exists() and key_path.exists()) or _expires_soon(
            x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
        ):
            signer_key = ec.generate_private_key(ec.SECP256R1())
            signer_cert = _signer_certificate(signer_key, root_cert, root_key)
            _write_private(key_path, _key_pem(signer_key))
            _write_private(chain_path, signer_cert.public_bytes(serialization.Encoding.PEM))
        return SigningIdentity(chain_path.read_bytes(), key_path.read_bytes(), development=True)


def development_trust_anchor(folder: Path) -> bytes:
    """The development root CA certificate (PEM), for `read_credentials(trust_anchor_pem=...)`."""
    return (Path(folder) / ROOT_CERT_FILE).read_bytes()


def _load_or_make_root(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = folder / ROOT_CERT_FILE, folder / ROOT_KEY_FILE
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and not _expires_soon(cert, margin=_SIGNER_LIFETIME):
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = _development_name("photogen development root CA")
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        _certificate(name, name, key.public_key(), now, now + _ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    (folder / SIGNER_CHAIN_FILE).unlink(missing_ok=True)  # a new root needs a new signer
    return cert, key


def _signer_certificate(
    key: ec.EllipticCurvePrivateKey, root_cert: x509.Certificate, root_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    # What C2PA asks of a signer: not a CA, digitalSignature, an accepted EKU (emailProtection).
    now = dt.datetime.now(dt.timezone.utc)
    not_after = min(now + _SIGNER_LIFETIME, root_cert.not_valid_after_utc)
    subject = _development_name("photogen development signer")
    return (
        _certificate(subject, root_cert.subject, key.public_key(), now, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )


def _certificate(subject, issuer, public_key, not_before, not_after) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(not_after)
    )


def _key_usage(**granted: bool) -> x509.KeyUsage:
    usages = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{usage: granted.get(usage, False) for usage in usages})


def _development_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVELOPMENT_ORGANIZATION),
        ]
    )


def _is_development(name: x509.Name) -> bool:
    return any(
        a.value == DEVELOPMENT_ORGANIZATION for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )


def _expires_soon(cert: x509.Certificate, margin: dt.timedelta = _RENEW_BEFORE) -> bool:
    return cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) < margin


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` with mode 600 from the start, replacing `path` atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


# --- signing ----------------------------------------------------------------------------------


def sign_png(
    png: bytes,
    identity: SigningIdentity,
    *,
    title: str,
    actions: list[dict[str, Any]],
    ingredient_png_or_jpeg: bytes,
    ingredient_title: str,
    ingredient_format: str,
    software: str = f"photogen {__version__}",
    extra_assertions: dict[str, Any] | None = None,
    thumbnails: bool = False,
) -> bytes:
    """`png` with a signed C2PA manifest embedded; every text chunk of `png` is kept.

    `actions` are C2PA action entries in order. The first is `c2pa.opened` (the upload is the
    parent ingredient and is linked to it); generation is a later `c2pa.edited` with a
    `digitalSourceType` such as TRAINED_ALGORITHMIC_MEDIA. Give action parameters as objects:
    the library stores a list of small integers as a byte string. `ingredient_format` is a MIME
    type (`image/jpeg`, `image/png`). `extra_assertions` maps labels (`org.photogen.*`) to data.
    """
    # 1. check inputs
    if not png.startswith(_PNG_SIGNATURE):
        raise CredentialsError("only PNG outputs can be signed here")
    _check_actions(actions)
    extra_assertions = extra_assertions or {}
    if _ACTIONS_LABELS & set(extra_assertions):
        raise CredentialsError("actions go in `actions`, not in `extra_assertions`")

    # 2. describe the claim
    manifest = {
        "claim_generator_info": [_software_info(software)],
        "title": title,
        "format": "image/png",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": _linked_actions(actions)}},
            *({"label": label, "data": data} for label, data in extra_assertions.items()),
        ],
    }
    ingredient = {
        "title": ingredient_title,
        "relationship": "parentOf",
        "label": _SOURCE_LABEL,
        "metadata": {INGREDIENT_SHA256_KEY: hashlib.sha256(ingredient_png_or_jpeg).hexdigest()},
    }

    # 3. sign (the library checks the new manifest before it returns)
    signer_info = c2pa.C2paSignerInfo(identity.algorithm(), identity.cert_chain_pem, identity.key_pem, None)
    signed = io.BytesIO()
    try:
        with (
            _context(thumbnails=thumbnails) as context,
            c2pa.Signer.from_info(signer_info) as signer,
            c2pa.Builder(manifest, context) as builder,
        ):
            builder.add_ingredient(ingredient, ingredient_format, io.BytesIO(ingredient_png_or_jpeg))
            builder.sign(signer, "image/png", io.BytesIO(png), signed)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"the output could not be signed: {exc}") from None

    # 4. the signed file must still say how it was made
    result = signed.getvalue()
    if not _text_chunks(png) <= _text_chunks(result):
        raise CredentialsError("signing dropped a text chunk of the output")
    return result


def _check_actions(actions: list[dict[str, Any]]) -> None:
    names = [action.get("action") for action in actions]
    if not names or names[0] != "c2pa.opened":
        raise CredentialsError("the first action must be c2pa.opened: the upload is the parent ingredient")
    if "c2pa.created" in names or names.count("c2pa.opened") > 1:
        raise CredentialsError(
            "an output made from an upload is opened once and never created",
            hint="record generation as c2pa.edited with a digitalSourceType",
        )


def _linked_actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    opened, *rest = actions
    parameters = {"ingredientIds": [_SOURCE_LABEL], **opened.get("parameters", {})}
    return [{**opened, "parameters": parameters}, *rest]


def _software_info(software: str) -> dict[str, str]:
    name, _, version = software.rpartition(" ")
    return {"name": name, "version": version} if name and version else {"name": software}


def _context(*, thumbnails: bool = False, trust_anchor_pem: bytes | None = None) -> c2pa.Context:
    settings: dict[str, Any] = {
        "builder": {"thumbnail": {"enabled": thumbnails}},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    if trust_anchor_pem is not None:
        settings["trust"] = {"trust_anchors": trust_anchor_pem.decode()}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def _text_chunks(png: bytes) -> Counter[tuple[bytes, bytes]]:
    chunks: Counter[tuple[bytes, bytes]] = Counter()
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        if kind in _TEXT_CHUNKS:
            chunks[(kind, png[position + 8 : position + 8 + length])] += 1
        position += 12 + length
    return chunks


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngredientSummary:
    title: str
    format: str | None
    relationship: str | None
    sha256: str | None  # of the ingredient's bytes, when photogen signed it


@dataclass(frozen=True)
class CredentialsReport:
    """What a PNG's Content Credentials say, and whether they hold.

    `validation_state` is the library's `Invalid`, `Valid` (intact, signer not known to this
    reader) or `Trusted` (intact, signer chains to a trust anchor); `Absent` when the file has
    no manifest; `Unreadable` when it could not be parsed.
    """

    valid: bool
    trusted: bool
    validation_state: str
    software: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[IngredientSummary] = field(default_factory=list)
    assertions: dict[str, Any] = field(default_factory=dict)  # every assertion but the actions
    signer: str | None = None
    issuer: str | None = None
    development: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def action_names(self) -> list[str]:
        return [action.get("action", "") for action in self.actions]


def read_credentials(png: bytes, *, trust_anchor_pem: bytes | None = None) -> CredentialsReport:
    """Read and validate the Content Credentials of `png`, offline."""
    try:
        with (
            _context(trust_anchor_pem=trust_anchor_pem) as context,
            c2pa.Reader("image/png", io.BytesIO(png), context=context) as reader,
        ):
            state = reader.get_validation_state() or "Invalid"
            results = reader.get_validation_results() or {}
            manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError.ManifestNotFound:
        return CredentialsReport(valid=False, trusted=False, validation_state="Absent")
    except c2pa.C2paError as exc:
        return CredentialsReport(valid=False, trusted=False, validation_state="Unreadable", errors=[str(exc)])

    assertions = {a["label"]: a.get("data") for a in manifest.get("assertions", [])}
    actions = next((assertions.pop(label) for label in sorted(_ACTIONS_LABELS) if label in assertions), None)
    signature = manifest.get("signature_info", {})
    return CredentialsReport(
        valid=state in ("Valid", "Trusted"),
        trusted=state == "Trusted",
        validation_state=state,
        software=_software_text(manifest.get("claim_generator_info") or []),
        actions=list((actions or {}).get("actions", [])),
        ingredients=[_ingredient_summary(i) for i in manifest.get("ingredients", [])],
        assertions=assertions,
        signer=signature.get("common_name"),
        issuer=signature.get("issuer"),
        development=DEVELOPMENT_ORGANIZATION in (signature.get("issuer") or ""),
        errors=_failures(results),
    )


def _software_text(infos: list[dict[str, Any]]) -> str | None:
    if not infos:
        return None
    first = infos[0]
    return " ".join(part for part in (first.get("name"), first.get("version")) if part)


def _ingredient_summary(ingredient: dict[str, Any]) -> IngredientSummary:
    return IngredientSummary(
        title=ingredient.get("title", ""),
        format=ingredient.get("format"),
        relationship=ingredient.get("relationship"),
        sha256=(ingredient.get("metadata") or {}).get(INGREDIENT_SHA256_KEY),
    )


def _failures(results: dict[str, Any]) -> list[str]:
    statuses = list(results.get("activeManifest", {}).get("failure", []))
    for delta in results.get("ingredientDeltas", []):
        statuses += delta.get("validationDeltas", {}).get("failure", [])
    return [
        f"{status['code']}: {status.get('explanation', '')}".rstrip(": ")
        for status in statuses
        if status.get("code") not in _NOT_ERRORS
    ]
