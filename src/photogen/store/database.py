"""Database engine and sessions: SQLite file by default (WAL mode), PostgreSQL by URL; schema by Alembic."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATION_LOCK = 0x70686F746F67656E  # "photogen": the PostgreSQL advisory lock that migrations take


# A pooled server connection idle this long is pinged before use (and replaced if the server dropped it).
PING_AFTER_IDLE_S = 1.0


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return _server_engine(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        # secure_delete: deleted rows (prompts, file names) are overwritten, not left in free pages.
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000",
                       "secure_delete=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _server_engine(url: str) -> Engine:
    """A pooled engine for a database server (PostgreSQL) whose connections are checked before use only when
    they have been idle: what a server or a proxy drops is an idle connection, and a ping for each of the dozen
    transactions a request makes would be one more round trip each (SQLAlchemy's pool_pre_ping).

    A connection found dead is replaced (the pool tries again); one that fails in use, after a database restart,
    fails that transaction and makes the pool replace every connection made before it."""
    engine = create_engine(url, pool_size=10, max_overflow=10, pool_use_lifo=True)  # busy ones stay busy

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"a pooled connection was dropped ({type(error).__name__})") from error

    return engine


def redacted_url(url: str) -> str:
    """The database URL as it may be shown: the password, if any, replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`, by default the newest migration (idempotent).

    Processes that start together on one PostgreSQL database (API nodes, workers) migrate one after another,
    under an advisory lock held to the end of the transaction: the later ones find the schema at `revision`.
    Without it they would all create the same tables at once, and all but one would fail to start.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "photogen.store:migrations")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: take the write lock at BEGIN so a read-then-update (claiming jobs) cannot
        # interleave with another writer. PostgreSQL uses row locks (FOR UPDATE SKIP LOCKED).
        self._write_sessions = sessionmaker(self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write_lock: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        factory = self._write_sessions if write_lock else self._sessions
        with factory() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for a statement or two of Core, read together, without an ORM session: a check asked on
        every request (the API key's) costs a third as much this way."""
        with self.engine.connect() as connection:
            yield connection

    def lock(self, session: Session, name: str) -> None:
        """Hold the lock called `name` until `session`'s transaction ends: transactions that take the same name,
        in any process on this database, run their locked part one after another.

        PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock`) on a 64-bit hash of the name,
        so no row has to exist to be locked; a hash shared by two names only makes them wait for each other.
        SQLite has one lock for all writers, which a `write_lock=True` session holds from its start: the
        session must be one.
        """
        if self.is_sqlite:
            if not session.connection().get_execution_options().get("sqlite_immediate", False):
                raise RuntimeError("on SQLite, Database.lock needs a session opened with write_lock=True")
            return
        if self.engine.dialect.name != "postgresql":
            raise RuntimeError(f"Database.lock knows SQLite and PostgreSQL, not {self.engine.dialect.name}")
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file and empty it.

        Run after deletes: until then the old versions of deleted rows still sit in the -wal file.
        Nothing to do on other databases.
        """
        if not self.is_sqlite:
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()
