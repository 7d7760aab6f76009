"""Object stores: the local folder, and S3 through boto3 against moto's S3 server on a local port."""

from __future__ import annotations

import pytest

from app.errors import NotFound, ServiceUnavailable
from app.providers.objects import FolderObjectStore, S3ObjectStore, object_store_from_url


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint, monkeypatch):
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(connect_timeout=2, read_timeout=5,
                                                                      retries={"max_attempts": 1}))
    client.create_bucket(Bucket="trellis")
    return client


def exercise(store) -> None:
    store.put("upload_files/w1/a.txt", b"one")
    store.put("upload_files/w1/a.txt", b"two")  # replaces
    assert store.get("upload_files/w1/a.txt") == b"two"
    store.delete("upload_files/w1/a.txt")
    store.delete("upload_files/w1/a.txt")  # missing is fine
    with pytest.raises(NotFound):
        store.get("upload_files/w1/a.txt")
    with pytest.raises(ValueError):
        store.put("../escape", b"x")


def test_folder_store(tmp_path):
    store = object_store_from_url(None, tmp_path)
    assert isinstance(store, FolderObjectStore) and store.root == tmp_path / "objects"
    exercise(store)
    assert not list((tmp_path / "objects").rglob(".tmp-*"))


def test_s3_store_with_prefix(s3_client):
    store = object_store_from_url("s3://trellis/tenant-a", None, client=s3_client)  # type: ignore[arg-type]
    assert isinstance(store, S3ObjectStore) and store.prefix == "tenant-a"
    store.put("upload_files/w1/b.txt", b"payload", "text/plain")
    head = s3_client.head_object(Bucket="trellis", Key="tenant-a/upload_files/w1/b.txt")
    assert head["ContentType"] == "text/plain"
    exercise(store)


def test_s3_errors_become_domain_errors(s3_client):
    store = S3ObjectStore(s3_client, "no-such-bucket")
    with pytest.raises(ServiceUnavailable):
        store.put("k", b"x")
