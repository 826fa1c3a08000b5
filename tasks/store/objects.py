"""The object store for what is too big or too private for a table: every trial of a submission,
as a JSON object named `TEAM_NAME-COMMIT_HASH` (DESIGN.md §5).

Two backends behind one small interface, chosen by StoreSettings.objects_url:
a local folder (the default, `.arena/objects`) or `s3://bucket/prefix` through prefect-aws
`S3Bucket` (credentials and endpoint from the usual AWS settings, so moto works in tests).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from arena.settings import StoreSettings
from tasks.store.base import NotFound, StoreError

SUFFIX = ".json"
BYTES_SUFFIX = ".bin"  # opaque bytes (a live run's saved policy state): never parsed by arena
# Names are paths of plain segments: no "..", no leading "/", nothing a shell or S3 console trips on.
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or any(part in (".", "..") for part in name.split("/")):
        raise StoreError(f"bad object name {name!r}: use letters, digits, '_', '-', '.', and '/' between parts")
    return name


@runtime_checkable
class ObjectStore(Protocol):
    def put_json(self, name: str, obj: Any) -> None:
        """Write `obj` as JSON under `name`, replacing any earlier object; a reader sees the old or
        the new object whole, never part of one."""

    def get_json(self, name: str) -> Any:
        """Raises NotFound."""

    def list(self, prefix: str = "") -> list[str]:
        """Names of the JSON objects starting with `prefix`, sorted."""

    def put_bytes(self, name: str, data: bytes) -> None:
        """Write opaque bytes under `name` (whole or not at all, as put_json)."""

    def get_bytes(self, name: str) -> bytes:
        """Raises NotFound."""

    def delete(self, name: str) -> None:
        """Remove the JSON object and the bytes called `name`, whichever exist."""

    def check(self) -> None:
        """A cheap preflight: raises StoreError naming the problem when objects cannot be written
        here (a missing bucket, an unreachable endpoint, a folder that is not writable)."""


def _encode(name: str, obj: Any) -> bytes:
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise StoreError(f"object {name!r} is not plain JSON: {exc}") from exc


class LocalObjects:
    """Objects as files `<root>/<name>.json`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalObjects({str(self.root)!r})"

    def _path(self, name: str, suffix: str = SUFFIX) -> Path:
        return self.root / (check_name(name) + suffix)

    def put_json(self, name: str, obj: Any) -> None:
        self._write(name, _encode(name, obj), SUFFIX)

    def put_bytes(self, name: str, data: bytes) -> None:
        self._write(name, bytes(data), BYTES_SUFFIX)

    def get_bytes(self, name: str) -> bytes:
        path = self._path(name, BYTES_SUFFIX)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no object {name!r} in {self.root}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read object {name!r} in {self.root}: {exc}") from exc

    def delete(self, name: str) -> None:
        try:
            for suffix in (SUFFIX, BYTES_SUFFIX):
                self._path(name, suffix).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete object {name!r} in {self.root}: {exc}") from exc

    def _write(self, name: str, data: bytes, suffix: str) -> None:
        path = self._path(name, suffix)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Temp file in the same folder, fsynced, then renamed over the name: rename is atomic
            # on one filesystem, so a crash leaves the old object or the new one, not half of one.
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write object {name!r} in {self.root}: {exc}") from exc

    def get_json(self, name: str) -> Any:
        path = self._path(name)
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError as exc:
            raise NotFound(f"no object {name!r} in {self.root}") from exc
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read object {name!r} in {self.root}: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        names = []
        for path in self.root.rglob("*" + SUFFIX):
            if path.name.startswith("."):  # a temp file of a write in progress
                continue
            name = path.relative_to(self.root).as_posix()[: -len(SUFFIX)]
            if name.startswith(prefix):
                names.append(name)
        return sorted(names)

    def check(self) -> None:
        # A real write, not os.access: that says yes to root on any folder and knows nothing of
        # a read-only mount. The folder is made as the first put would make it.
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.root, prefix=".preflight.", suffix=".tmp")
            os.close(fd)
            os.unlink(temp)
        except OSError as exc:
            raise StoreError(f"cannot write objects in {self.root}: {exc.strerror or exc} "
                             "(check ARENA_OBJECTS_URL)") from exc


class S3Objects:
    """Objects as S3 keys `<folder>/<name>.json` through prefect-aws `S3Bucket` (a PUT of one
    object is atomic in S3, so readers never see part of one)."""

    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket  # a prefect_aws.S3Bucket (or anything with its three methods)

    def __repr__(self) -> str:
        return f"S3Objects(s3://{self.bucket.bucket_name}/{self.bucket.bucket_folder})"

    @classmethod
    def from_url(cls, url: str) -> S3Objects:
        from prefect_aws import AwsCredentials, S3Bucket

        bucket_name, _, folder = url[len("s3://") :].partition("/")
        if not bucket_name:
            raise StoreError(f"bad objects URL {url!r}: expected s3://bucket/prefix")
        return cls(S3Bucket(bucket_name=bucket_name, bucket_folder=folder.strip("/"), credentials=AwsCredentials()))

    def _errors(self, name: str, exc: Exception) -> StoreError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return NotFound(f"no object {name!r} in {self!r}")
        return StoreError(f"object {name!r} in {self!r}: {exc}")

    def put_json(self, name: str, obj: Any) -> None:
        data = _encode(name, obj)
        try:
            self.bucket.write_path(check_name(name) + SUFFIX, data, _sync=True)
        except Exception as exc:
            raise self._errors(name, exc) from exc

    def put_bytes(self, name: str, data: bytes) -> None:
        try:
            self.bucket.write_path(check_name(name) + BYTES_SUFFIX, bytes(data), _sync=True)
        except Exception as exc:
            raise self._errors(name, exc) from exc

    def get_bytes(self, name: str) -> bytes:
        try:
            return self.bucket.read_path(check_name(name) + BYTES_SUFFIX, _sync=True)
        except Exception as exc:
            raise self._errors(name, exc) from exc

    def delete(self, name: str) -> None:
        folder = self.bucket.bucket_folder.strip("/")
        keys = [f"{folder}/{check_name(name)}{suffix}" if folder else f"{name}{suffix}"
                for suffix in (SUFFIX, BYTES_SUFFIX)]
        try:  # the block has no delete: the S3 client of its own credentials (DeleteObject of a missing key is fine)
            client = self.bucket.credentials.get_s3_client()
            for key in keys:
                client.delete_object(Bucket=self.bucket.bucket_name, Key=key)
        except Exception as exc:
            raise self._errors(name, exc) from exc

    def get_json(self, name: str) -> Any:
        try:
            data = self.bucket.read_path(check_name(name) + SUFFIX, _sync=True)
        except Exception as exc:
            raise self._errors(name, exc) from exc
        try:
            return json.loads(data)
        except ValueError as exc:
            raise StoreError(f"object {name!r} in {self!r} is not JSON: {exc}") from exc

    def check(self) -> None:
        check_bucket(self.bucket.bucket_name, self.bucket.credentials, what="objects bucket (ARENA_OBJECTS_URL)")

    def list(self, prefix: str = "") -> list[str]:
        folder = self.bucket.bucket_folder.strip("/")
        lead = f"{folder}/" if folder else ""
        try:
            # List the whole folder and filter here: the block joins folder and prefix as paths,
            # which would turn a name prefix like "team-" into a folder.
            objects = self.bucket.list_objects("", _sync=True)
        except Exception as exc:
            raise self._errors(prefix or "*", exc) from exc
        names = []
        for entry in objects:
            key = entry["Key"]
            if key.startswith(lead) and key.endswith(SUFFIX):
                name = key[len(lead) : -len(SUFFIX)]
                if name.startswith(prefix):
                    names.append(name)
        return sorted(names)


# The preflight asks once and briefly: botocore's default (several attempts, a 60 s connect
# timeout) is what made a missing bucket cost minutes per team.
_PREFLIGHT_CONFIG = dict(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})


def check_bucket(bucket_name: str, credentials: Any = None, *, what: str = "bucket") -> None:
    """HeadBucket on `bucket_name` with prefect-aws `credentials` (default: the usual AWS
    settings and endpoint): StoreError with one clear line when the bucket is missing, not
    ours to use, or S3 cannot be reached."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    from prefect_aws import AwsCredentials

    credentials = credentials or AwsCredentials()
    params = credentials.aws_client_parameters.get_params_override()
    config = params.pop("config", None) or Config()
    try:
        client = credentials.get_boto3_session().client(
            "s3", config=config.merge(Config(**_PREFLIGHT_CONFIG)), **params)
        client.head_bucket(Bucket=bucket_name)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise StoreError(f"the {what} {bucket_name!r} does not exist") from exc
        if code in ("403", "AccessDenied", "Forbidden"):
            raise StoreError(f"the {what} {bucket_name!r} is not ours to use (access denied)") from exc
        raise StoreError(f"the {what} {bucket_name!r}: {exc}") from exc
    except (BotoCoreError, ValueError) as exc:  # no endpoint, no credentials, bad region
        raise StoreError(f"cannot reach the {what} {bucket_name!r}: {exc}") from exc


def open_objects(settings: StoreSettings | None = None) -> ObjectStore:
    """The object store StoreSettings.objects_url names: `s3://bucket/prefix`, or a folder
    (a plain path or `file://` URL)."""
    settings = settings or StoreSettings()
    url = settings.objects_url.strip()
    if url.startswith("s3://"):
        return S3Objects.from_url(url)
    if "://" in url and not url.startswith("file://"):
        raise StoreError(f"unknown objects URL {url!r}: use a folder or s3://bucket/prefix")
    return LocalObjects(url[len("file://") :] if url.startswith("file://") else url)


def checked_objects(settings: StoreSettings | None = None) -> ObjectStore:
    """open_objects, then its preflight: what a command or flow that will write trials calls
    once at its start, so a misconfiguration is one error before any team runs."""
    objects = open_objects(settings)
    objects.check()
    return objects
