"""What the migration tests share: a database of each kind made by an earlier release, and the downgrade."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config

from photogen.store.database import Database


def downgrade(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", "photogen.store:migrations")
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh database of each kind, for a migration to run on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("postgres_url")
