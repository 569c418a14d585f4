"""API keys: shown once at creation, stored only as a SHA-256 hash, revocable; and whether they are required.

Whether keys are required is decided once and recorded in the server_state table (key "auth"):
by configuration (PHOTOGEN_AUTH=required), by the first key being created, or by keys having
existed before the record did. Revoking keys never changes it: with no active key left, every
request is refused with a hint on creating one. Only PHOTOGEN_AUTH=off lets everyone in again,
and AuthPolicy refuses that (and any open state) on a server that listens beyond loopback.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from photogen.domain.errors import PhotogenError
from photogen.store.database import Database
from photogen.store.tables import ApiKey, ServerState, utcnow

KEY_PREFIX = "pg_"
AUTH_STATE = "auth"  # the server_state row that records that keys are required
# Asked on every request (of an open server; of a server that requires keys): built once, so each ask is the
# statement alone (building a select and its cache key cost more than running it on SQLite), read through a Core
# connection rather than an ORM session (photogen.store.database.Database.reading).
_REQUIRED_OR_ANY_KEY = select(
    select(ServerState.value).where(ServerState.key == AUTH_STATE).scalar_subquery(), exists(select(ApiKey.id)))
_KEY_OWNER = select(ApiKey.owner, ApiKey.revoked_at).where(ApiKey.key_hash == bindparam("key_hash"))
CREATE_KEY_HINT = "create one with `photogen keys create --owner NAME` and send it as Authorization: Bearer <key>"


class Unauthorized(PhotogenError):
    code = "unauthorized"


class KeyNotFound(PhotogenError):
    code = "not_found"


class AuthRefused(PhotogenError):
    """A configuration that would leave a server beyond loopback open to everyone."""

    code = "auth_required"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    owner: str
    name: str
    key: str  # the only time the key itself is available


@dataclass(frozen=True)
class KeyInfo:
    """A key as listings show it: its id and shown prefix, never the key itself."""

    id: str
    owner: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.owner, row.name, row.prefix, row.created_at, row.revoked_at)


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
            _record_required(session, "the first API key was created")
        return CreatedKey(row.id, owner, name, key)

    def authenticate(self, key: str) -> str:
        """The owner of an active key."""
        with self._db.reading() as connection:
            row = connection.execute(_KEY_OWNER, {"key_hash": hash_key(key)}).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("the API key is not valid", hint="create one with `photogen keys create --owner NAME`")
        return row.owner

    def revoke(self, key_id_or_prefix: str) -> KeyInfo:
        with self._db.session() as session:
            rows = session.scalars(
                select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
            ).all()
            if len(rows) != 1:
                raise KeyNotFound(f"no single API key matches {key_id_or_prefix!r}", hint="see `photogen keys list`")
            rows[0].revoked_at = rows[0].revoked_at or utcnow()
            return _info(rows[0])

    def list(self) -> list[KeyInfo]:
        with self._db.session() as session:
            return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.created_at))]

    def any_active(self) -> bool:
        with self._db.session() as session:
            return session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None

    def required_since(self) -> dict | None:
        """The record that keys are required ({"reason", "since"}), or None while the server is open.

        Keys that existed before the record (revoked ones too) count: the record is written then."""
        with self._db.reading() as connection:  # asked on every request of an open server: one statement
            recorded, any_key = connection.execute(_REQUIRED_OR_ANY_KEY).one()
        if recorded is not None and recorded.get("required"):
            return dict(recorded)
        if not any_key:
            return None
        return self.require("API keys existed")

    def require(self, reason: str) -> dict:
        """Record that keys are required from now on (kept if already recorded)."""
        with self._db.session() as session:
            return _record_required(session, reason)


def _record_required(session: Session, reason: str) -> dict:
    state = session.get(ServerState, AUTH_STATE)
    if state is not None and state.value.get("required"):
        return dict(state.value)
    value = {"required": True, "reason": reason, "since": utcnow().isoformat()}
    if state is None:
        session.add(ServerState(key=AUTH_STATE, value=value))
    else:
        state.value, state.updated_at = value, utcnow()
    session.flush()
    return value


@dataclass(frozen=True)
class AuthStatus:
    required: bool
    mode: str  # the configured PHOTOGEN_AUTH: auto, required or off
    reason: str  # why keys are (not) required, for people


class AuthPolicy:
    """Whether this server requires API keys, for a configured mode and the address it listens on.

    auto: open until the first key is created, then required for good. required: from the start.
    off: never, and only allowed while the server listens on loopback. A server beyond loopback
    is never open: it refuses to start so (check_start) and fails closed should it find itself so.
    """

    def __init__(self, keys: KeyService, mode: str, *, listens_beyond_loopback: bool) -> None:
        self._keys = keys
        self.mode = mode
        self.beyond_loopback = listens_beyond_loopback
        self._required: dict | None = None  # once required in auto mode, cached: it never turns back

    def check_start(self) -> AuthStatus:
        """Record a configured requirement and refuse an open server beyond loopback."""
        if self.mode == "required":
            self._required = self._keys.require("PHOTOGEN_AUTH=required")
        status = self._decided()
        if self.beyond_loopback and not status.required:
            if self.mode == "off":
                raise AuthRefused("PHOTOGEN_AUTH=off on a server that listens beyond this machine would let "
                                  "anyone on the network in as owner 'local'",
                                  hint="listen on 127.0.0.1 (--host 127.0.0.1), or remove PHOTOGEN_AUTH=off")
            raise AuthRefused("no API keys are required, so listening beyond this machine would let anyone on the "
                              "network in as owner 'local'",
                              hint="create a key first with `photogen keys create --owner NAME` (or set "
                                   "PHOTOGEN_AUTH=required), or listen on 127.0.0.1 (--host 127.0.0.1)")
        return status

    def status(self) -> AuthStatus:
        """As decided, except that a server beyond loopback never answers open: it fails closed."""
        status = self._decided()
        if self.beyond_loopback and not status.required:
            logging.getLogger("photogen.auth").error("open server beyond loopback: refusing every request")
            return AuthStatus(True, self.mode, "listening beyond loopback without keys: every request is refused")
        return status

    def _decided(self) -> AuthStatus:
        if self.mode == "off":
            return AuthStatus(False, self.mode, "PHOTOGEN_AUTH=off: everyone is owner 'local'")
        if self._required is None:
            self._required = self._keys.required_since()
        if self._required is not None:
            return AuthStatus(True, self.mode, f"{self._required.get('reason', 'recorded')} "
                                               f"({self._required.get('since', '')[:10]})")
        return AuthStatus(False, self.mode, "no API key was ever created: open to this machine only")
