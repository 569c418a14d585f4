"""Migration 0006 on a database of the previous release (at 0005) that holds uploads and jobs: the identity
tables appear, the old rows stay as they were, the old uploads can become references, and the downgrade
removes the tables again."""

from __future__ import annotations

from sqlalchemy import inspect, select

from photogen.domain.jobs import GenerateSpec
from photogen.domain.params import GenerationRequest
from photogen.services.identities import IdentityService
from photogen.services.uploads import UploadService
from photogen.store.blobs import blob_store_for
from photogen.store.database import Database, migrate
from photogen.store.tables import Job, Upload
from tests.api.migrations import database_url, downgrade  # noqa: F401 (a fixture)

IDENTITY_TABLES = {"identity_sets", "identity_set_members"}


def test_identity_tables_arrive_on_a_database_with_rows_and_leave_again(database_url, tmp_path, astronaut_bytes):
    # 1. the previous release's database with a real upload (bytes in the blob store) and a job made from it
    db = Database(database_url)
    migrate(db.engine, "0005")
    assert not IDENTITY_TABLES & set(inspect(db.engine).get_table_names())
    uploads = UploadService(db, blob_store_for(str(tmp_path / "blobs")), max_pixels=50_000_000, max_bytes=30_000_000)
    old = uploads.create("local", astronaut_bytes, "astronaut.jpg")
    spec = GenerateSpec(request=GenerationRequest(prompt="a red coat", seed=7, steps=4))
    with db.session() as session:
        job = Job(id="j" * 32, owner="local", upload_id=old.id, state="succeeded")
        job.spec = spec
        session.add(job)
    with db.session() as session:
        before = {"upload": session.get(Upload, old.id).preflight, "job": session.get(Job, "j" * 32).request}

    # 2. this release: the tables are there, the rows unchanged, and the old upload joins a set
    migrate(db.engine)
    assert IDENTITY_TABLES <= set(inspect(db.engine).get_table_names())
    with db.session() as session:
        assert session.get(Upload, old.id).preflight == before["upload"]
        assert session.get(Job, "j" * 32).request == before["job"]
    identities = IdentityService(db, uploads)
    made = identities.create("local", "Eileen", [old.id])
    assert (made.coverage.total, made.coverage.usable) == (1, 1)
    assert made.members[0].filename == "astronaut.jpg" and made.members[0].embedding is not None

    # 3. back to 0005: the identity tables go, everything else stays
    downgrade(db, "0005")
    assert not IDENTITY_TABLES & set(inspect(db.engine).get_table_names())
    with db.session() as session:
        assert session.scalars(select(Upload.id)).all() == [old.id]
        assert session.get(Job, "j" * 32).request == before["job"]
    db.dispose()
