"""A SQLite database at the newest migration, made once per test session and copied into each fresh home.

Migrating an empty SQLite database takes a noticeable part of a second; hundreds of tests start a server on a
home of their own. The copy is what any of those servers would have made: the same `Database` and `migrate`
made it, and the server still runs `migrate` at start (finding nothing to do, as on an installed system). The
tests of migrating itself (tests/test_migrations.py, the migration tests under tests/api/) make their own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import text

from photogen.config import Settings
from photogen.store.database import Database, migrate

TEMPLATE_NAME = "migrated-template.db"


def sqlite_path(home: Path) -> Path:
    """The SQLite file a home's server uses when no PHOTOGEN_DATABASE_URL is set."""
    return Path(Settings(home=home).resolved_database_url().removeprefix("sqlite:///"))


def migrated_template(folder: Path) -> Path:
    """`folder`/migrated-template.db, made (migrated, checkpointed, closed) the first time it is asked for."""
    template = folder / TEMPLATE_NAME
    if not template.is_file():
        building = folder / f".{TEMPLATE_NAME}.{os.getpid()}"
        db = Database(f"sqlite:///{building}")
        try:
            migrate(db.engine)
            with db.engine.connect() as connection:
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        finally:
            db.dispose()
        for leftover in (Path(f"{building}-wal"), Path(f"{building}-shm")):
            leftover.unlink(missing_ok=True)
        os.replace(building, template)
    return template


def seed_database(home: Path, template_folder: Path) -> None:
    """Give a fresh `home` its SQLite database at the newest migration; a home that has one keeps it."""
    target = sqlite_path(home)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_template(template_folder), target)
