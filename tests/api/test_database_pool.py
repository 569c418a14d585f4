"""PostgreSQL connections: pinged before use only after they sat idle, and replaced when the server dropped them."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

from photogen.store import database
from photogen.store.database import Database


def test_busy_connections_are_not_pinged_and_a_dropped_idle_one_is_replaced(postgres_url, monkeypatch):
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.3)
    db = Database(postgres_url)
    pings = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(1) or real_ping(connection))
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with db.session() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        for _ in range(20):  # one after the other, as a request's transactions come
            with db.session() as session:
                assert session.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        assert pings == []
        with admin.connect() as connection:  # the server drops the idle connection (a restart, a proxy's timeout)
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        time.sleep(0.5)
        with db.session() as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar() != pid
        assert pings == [1]
    finally:
        admin.dispose()
        db.dispose()
