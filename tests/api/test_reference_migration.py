"""Migration 0007 on a database of the previous release (at 0006) holding an upload and a job: the job_references
and avatar_sets tables appear, the old rows stay as they were, a job with references records them, and the
downgrade removes the tables again."""

from __future__ import annotations

from sqlalchemy import inspect, select

from photogen.domain.jobs import GenerateSpec, JobReference
from photogen.domain.params import GenerationRequest
from photogen.services.uploads import UploadService
from photogen.store.blobs import blob_store_for
from photogen.store.database import Database, migrate
from photogen.store.tables import Job, JobReferenceRow, Upload
from tests.api.migrations import database_url, downgrade  # noqa: F401 (a fixture)

NEW_TABLES = {"job_references", "avatar_sets"}


def test_reference_tables_arrive_on_a_database_with_rows_and_leave_again(database_url, tmp_path, astronaut_bytes):
    # 1. the previous release's database with an upload and a job made from it
    db = Database(database_url)
    migrate(db.engine, "0006")
    assert not NEW_TABLES & set(inspect(db.engine).get_table_names())
    uploads = UploadService(db, blob_store_for(str(tmp_path / "blobs")), max_pixels=50_000_000, max_bytes=30_000_000)
    old = uploads.create("local", astronaut_bytes, "astronaut.jpg")
    with db.session() as session:
        job = Job(id="j" * 32, owner="local", upload_id=old.id, state="succeeded")
        job.spec = GenerateSpec(request=GenerationRequest(prompt="a red coat", seed=7, steps=4))
        session.add(job)
    with db.session() as session:
        before = session.get(Job, "j" * 32).request
    assert "reference_uploads" not in before and "identity_id" not in before  # a job without references

    # 2. this release: the tables are there, the old row unchanged, and a job with references records them
    migrate(db.engine)
    assert NEW_TABLES <= set(inspect(db.engine).get_table_names())
    reference = JobReference(position=1, upload_id=old.id, sha256=old.sha256, role="reference")
    with db.session() as session:
        assert session.get(Job, "j" * 32).request == before
        new = Job(id="k" * 32, owner="local", upload_id=old.id, state="queued")
        new.spec = GenerateSpec(request=GenerationRequest(prompt="a red coat", seed=7, references=(old.sha256,)),
                                reference_uploads=(reference,))
        session.add(new)
        session.flush()
        session.add(JobReferenceRow(job_id=new.id, position=1, upload_id=old.id, sha256=old.sha256, role="reference"))
    with db.session() as session:
        assert session.get(Job, "k" * 32).spec.reference_uploads == (reference,)
        assert session.scalars(select(JobReferenceRow.sha256)).all() == [old.sha256]

    # 3. back to 0006: the new tables go, everything else stays
    downgrade(db, "0006")
    assert not NEW_TABLES & set(inspect(db.engine).get_table_names())
    with db.session() as session:
        assert session.scalars(select(Upload.id)).all() == [old.id]
        assert session.get(Job, "j" * 32).request == before
    db.dispose()
