"""The object store contract, on a local folder and on S3 (prefect-aws S3Bucket against moto)."""

from __future__ import annotations

import pytest

from arena.settings import StoreSettings
from tasks.store import NotFound, StoreError
from tasks.store.objects import LocalObjects, S3Objects, checked_objects, open_objects
from tests.store.conftest import AWS_ENV


@pytest.fixture(params=["folder", "s3"])
def objects(request, tmp_path, monkeypatch):
    if request.param == "folder":
        yield open_objects(StoreSettings(objects_url=str(tmp_path / "objects")))
        return
    import boto3
    from moto import mock_aws

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        boto3.client("s3").create_bucket(
            Bucket="arena-trials", CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_REGION"]}
        )
        store = open_objects(StoreSettings(objects_url="s3://arena-trials/trials"))
        assert isinstance(store, S3Objects)
        yield store


def test_put_get_replace(objects):
    trial = {"profits": [0.0, 0.25, -1.5], "socs": [7.5, 7.9], "error": None, "team": "volts"}
    objects.put_json("volts-" + "a" * 40, trial)
    assert objects.get_json("volts-" + "a" * 40) == trial
    objects.put_json("volts-" + "a" * 40, {"replaced": True})
    assert objects.get_json("volts-" + "a" * 40) == {"replaced": True}


def test_missing_object_is_not_found(objects):
    with pytest.raises(NotFound):
        objects.get_json("nobody-" + "0" * 40)


def test_list_by_prefix(objects):
    for name in ("volts-b", "volts-a", "amps-c", "rounds/2024-01/volts-a"):
        objects.put_json(name, [1, 2])
    assert objects.list() == ["amps-c", "rounds/2024-01/volts-a", "volts-a", "volts-b"]
    assert objects.list("volts-") == ["volts-a", "volts-b"]
    assert objects.list("rounds/") == ["rounds/2024-01/volts-a"]
    assert objects.list("zzz") == []


def test_bytes_beside_json_and_delete(objects):
    """Opaque bytes (a live checkpoint's policy state) under a name of their own, not listed as
    JSON; delete removes both kinds of one name and a missing one quietly."""
    blob = bytes(range(256)) * 10
    objects.put_bytes("live/101/c0ffee/000000000300-ab", blob)
    objects.put_json("live/101/c0ffee/000000000300", {"blob": "live/101/c0ffee/000000000300-ab"})
    assert objects.get_bytes("live/101/c0ffee/000000000300-ab") == blob
    assert objects.list("live/") == ["live/101/c0ffee/000000000300"]
    with pytest.raises(NotFound):
        objects.get_bytes("live/101/c0ffee/000000000300")
    objects.delete("live/101/c0ffee/000000000300-ab")
    objects.delete("live/101/c0ffee/000000000300")
    objects.delete("live/101/c0ffee/never-written")
    with pytest.raises(NotFound):
        objects.get_bytes("live/101/c0ffee/000000000300-ab")
    assert objects.list("live/") == []


def test_bad_names_and_values_are_refused_and_nothing_written(objects):
    for name in ("../escape", "/abs", "a//b", "", "a/../b", "sp ace"):
        with pytest.raises(StoreError, match="bad object name"):
            objects.put_json(name, {})
    with pytest.raises(StoreError, match="not plain JSON"):
        objects.put_json("nan", {"x": float("nan")})
    with pytest.raises(StoreError, match="not plain JSON"):
        objects.put_json("set", {"x": {1, 2}})
    assert objects.list() == []


def test_local_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    store = LocalObjects(tmp_path / "o")
    store.put_json("team-1", {"n": 1})
    store.put_json("team-1", {"n": 2})
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["team-1.json"]
    # A temp file left by a crashed writer is neither listed nor mistaken for an object.
    (tmp_path / "o" / ".team-2.json.x.tmp").write_text("{half")
    assert store.list() == ["team-1"]


def test_open_objects_urls(tmp_path):
    assert isinstance(open_objects(StoreSettings(objects_url=f"file://{tmp_path}")), LocalObjects)
    with pytest.raises(StoreError, match="unknown objects URL"):
        open_objects(StoreSettings(objects_url="ftp://host/x"))


# ---- the preflight: a misconfigured object store is one error before any team runs ----------


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        yield


def test_preflight_passes_for_an_existing_bucket_and_a_writable_folder(aws, tmp_path):
    import boto3

    boto3.client("s3").create_bucket(
        Bucket="arena-trials", CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_REGION"]})
    store = checked_objects(StoreSettings(objects_url="s3://arena-trials/trials"))
    assert isinstance(store, S3Objects)
    assert store.list() == []  # the preflight wrote nothing
    local = checked_objects(StoreSettings(objects_url=str(tmp_path / "new" / "objects")))
    assert isinstance(local, LocalObjects) and list((tmp_path / "new" / "objects").iterdir()) == []


def test_preflight_names_a_missing_bucket(aws):
    with pytest.raises(StoreError, match=r"objects bucket \(ARENA_OBJECTS_URL\) 'missing-bucket' does not exist"):
        checked_objects(StoreSettings(objects_url="s3://missing-bucket/trials"))


def test_preflight_names_an_unreachable_endpoint(monkeypatch):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    with pytest.raises(StoreError, match="cannot reach the objects bucket .* 'arena-trials'"):
        checked_objects(StoreSettings(objects_url="s3://arena-trials/trials"))


def test_preflight_refuses_a_folder_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot write objects in .*a-file/objects"):
        checked_objects(StoreSettings(objects_url=str(blocker / "objects")))
