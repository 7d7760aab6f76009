"""Object storage for uploaded files: S3 (through boto3, client injected) or a local folder, one protocol.

`OBJECT_STORE_URL` is `s3://bucket/prefix` or a folder path; unset means `<TRELLIS_HOME>/objects`. Keys are
relative, '/'-separated and never escape the folder. Vendor errors become `ServiceUnavailable` (retryable)
or `NotFound`, with the cause chained. Imports nothing from services, engine or api.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from app.errors import NotFound, ServiceUnavailable


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` under `key`, replacing any previous object. Idempotent."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes. Raises NotFound when it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...


def _checked(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    return key


class FolderObjectStore:
    """Objects as files under `root`; writes go through a temporary file and a rename, so readers never see
    half an object."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("File not found") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3ObjectStore:
    """Objects in one bucket under a prefix. `client` is a boto3 S3 client built with timeouts and retries
    (see `build_s3_client`); tests hand in one pointed at a local S3 server."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_checked(key)}" if self.prefix else _checked(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        full = self._key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType=content_type)
        except Exception as exc:  # botocore's ClientError / EndpointConnectionError: the store is unreachable
            raise ServiceUnavailable("The object store is unavailable; retry later.") from exc

    def get(self, key: str) -> bytes:
        full = self._key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            return bytes(response["Body"].read())
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise NotFound("File not found") from exc
            raise ServiceUnavailable("The object store is unavailable; retry later.") from exc

    def delete(self, key: str) -> None:
        full = self._key(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=full)
        except Exception as exc:
            raise ServiceUnavailable("The object store is unavailable; retry later.") from exc


def build_s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client with connect/read timeouts and standard retries. Credentials come from boto3's usual
    chain (environment, IRSA web identity, instance profile); `AWS_ENDPOINT_URL` is honoured by boto3 itself."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # optional backend: fail at construction, clearly
        raise RuntimeError("OBJECT_STORE_URL is s3://... but boto3 is not installed") from exc
    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def object_store_from_url(url: str | None, home: Path, client: Any = None) -> ObjectStore:
    """`s3://bucket/prefix` -> S3ObjectStore (client built unless given); a path -> FolderObjectStore;
    None -> the folder `<home>/objects`."""
    if url and url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError("OBJECT_STORE_URL s3://bucket/prefix needs a bucket")
        return S3ObjectStore(client if client is not None else build_s3_client(), bucket, prefix)
    return FolderObjectStore(Path(url) if url else home / "objects")
