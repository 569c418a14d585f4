from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from photogen.store.database import Database, migrate
from photogen.store.tables import Base


def test_migrations_build_exactly_the_declared_schema(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(db.engine)
    migrate(db.engine)  # idempotent
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    assert diff == []
    assert set(inspect(db.engine).get_table_names()) >= {"uploads", "jobs", "assets", "api_keys", "webhook_deliveries"}
    assert (mode, foreign_keys) == ("wal", 1)
    db.dispose()
