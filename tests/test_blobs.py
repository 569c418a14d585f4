import pytest

from photogen.store.blobs import BlobMissing, FsspecBlobStore, LocalBlobStore, blob_store_for


@pytest.fixture(params=["local", "fsspec"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
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
