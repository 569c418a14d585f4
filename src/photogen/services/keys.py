"""API keys: shown once at creation, stored only as a SHA-256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from photogen.domain.errors import PhotogenError
from photogen.store.database import Database
from photogen.store.tables import ApiKey, utcnow

KEY_PREFIX = "pg_"


class Unauthorized(PhotogenError):
    code = "unauthorized"


class KeyNotFound(PhotogenError):
    code = "not_found"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    owner: str
    name: str
    key: str  # the only time the key itself is available


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, owner: str, name: str = "") -> CreatedKey:
        if not owner.strip():
            raise PhotogenError("an API key needs an owner", hint="pass --owner NAME", code="invalid_request")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(id=uuid.uuid4().hex, owner=owner, name=name, prefix=key[:10], key_hash=hash_key(key))
        with self._db.session() as session:
            session.add(row)
        return CreatedKey(row.id, owner, name, key)

    def authenticate(self, key: str) -> str:
        """The owner of an active key."""
        with self._db.session() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("the API key is not valid", hint="create one with `photogen keys create --owner NAME`")
        return row.owner

    def revoke(self, key_id_or_prefix: str) -> ApiKey:
        with self._db.session() as session:
            rows = session.scalars(
                select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
            ).all()
            if len(rows) != 1:
                raise KeyNotFound(f"no single API key matches {key_id_or_prefix!r}", hint="see `photogen keys list`")
            rows[0].revoked_at = rows[0].revoked_at or utcnow()
            return rows[0]

    def list(self) -> list[ApiKey]:
        with self._db.session() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def any_active(self) -> bool:
        with self._db.session() as session:
            return session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None
