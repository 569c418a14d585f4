import pytest

from photogen.store.blobs import BlobMissing, FsspecBlobStore, LocalBlobStore, blob_store_for


@pytest.fixture(params=["local", "fsspec", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    if request.param == "s3":  # a real S3-compatible server (moto), reached through s3fs
        return FsspecBlobStore(request.getfixturevalue("s3_blob_url"))
    import uuid

    return FsspecBlobStore(f"memory://photogen-test-{uuid.uuid4().hex}")


def test_put_get_delete_and_list(store):
    store.put("originals/alice/abc", b"one")
    store.put("assets/alice/job/00.png", b"two")
    assert store.get("originals/alice/abc") == b"one"
    assert store.exists("assets/alice/job/00.png")
    assert store.keys() == ["assets/alice/job/00.png", "originals/alice/abc"]
    store.delete("originals/alice/abc")
    store.delete("originals/alice/abc")  # deleting twice is fine
    assert not store.exists("originals/alice/abc")
    with pytest.raises(BlobMissing):
        store.get("originals/alice/abc")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_keys_cannot_escape_the_store(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_local_writes_land_whole(tmp_path):
    store = LocalBlobStore(tmp_path)
    store.put("a/b", b"x" * 1000)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".partial-")]


def test_urls_choose_the_adapter(tmp_path):
    assert isinstance(blob_store_for(str(tmp_path / "b")), LocalBlobStore)
    assert isinstance(blob_store_for(f"file://{tmp_path}/c"), LocalBlobStore)
    assert isinstance(blob_store_for("memory://bucket/prefix"), FsspecBlobStore)


def test_s3_store_writes_objects_to_the_bucket(s3_server, s3_blob_url):
    import boto3

    store = blob_store_for(s3_blob_url)
    assert isinstance(store, FsspecBlobStore) and store.keys() == []
    store.put("previews/local/abc/256.webp", b"preview")
    prefix = s3_blob_url.removeprefix(f"s3://{s3_server.bucket}/")
    client = boto3.client("s3")  # the environment points it at the test server
    listed = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=f"{prefix}/")
    assert [item["Key"] for item in listed["Contents"]] == [f"{prefix}/previews/local/abc/256.webp"]
    assert client.get_object(Bucket=s3_server.bucket, Key=f"{prefix}/previews/local/abc/256.webp")["Body"].read() == b"preview"
    with pytest.raises(BlobMissing):
        store.get("previews/local/abc/missing.webp")
