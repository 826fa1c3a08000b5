"""The store: one protocol (base.py), an embedded SQLite backend and a DynamoDB backend.

    from tasks.store import open_store
    store = open_store()            # from ARENA_STORE_URL / ARENA_TABLE_PREFIX
"""

from __future__ import annotations

from pathlib import Path

from arena.settings import StoreSettings

from tasks.store.base import (
    MAX_ITEM_BYTES,
    TABLES,
    Conflict,
    ItemTooLarge,
    NotFound,
    Store,
    StoreError,
    check_item,
    item_size,
)
from tasks.store.objects import ObjectStore, open_objects

__all__ = [
    "MAX_ITEM_BYTES",
    "TABLES",
    "Conflict",
    "ItemTooLarge",
    "NotFound",
    "ObjectStore",
    "Store",
    "StoreError",
    "check_item",
    "item_size",
    "open_objects",
    "open_store",
    "sqlite_path",
]


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL (relative to the working folder, or absolute with
    four slashes: sqlite:////srv/arena.db); None for any other scheme."""
    if not url.startswith("sqlite:"):
        return None
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise StoreError(f"bad store URL {url!r}: expected sqlite:///path/to/arena.db")
    return Path(url[len("sqlite:///"):])


def open_store(settings: StoreSettings | None = None, *, create: bool = True) -> Store:
    """The store ARENA_STORE_URL names: `sqlite:///path.db` (the parent folder is created) or
    `dynamodb` / `dynamodb://` (endpoint from AWS_ENDPOINT_URL_DYNAMODB, region and credentials
    from the usual AWS settings).

    With `create` (the default) the tables are created if missing, so a fresh machine works at
    once; `arena db check/destroy/restore` pass create=False to look at what is really there.
    """
    settings = settings or StoreSettings()
    url = settings.url.strip()
    path = sqlite_path(url)
    store: Store
    if path is not None:
        from tasks.store.sqlite import SqliteStore

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of {path}: {exc}") from exc
        store = SqliteStore(path, settings.table_prefix, busy_timeout_s=settings.sqlite_busy_timeout_s)
    elif url in ("dynamodb", "dynamodb://"):
        from tasks.store.dynamodb import DynamoStore

        store = DynamoStore(settings.table_prefix)
    else:
        raise StoreError(f"unknown store URL {url!r}: use sqlite:///path/arena.db or dynamodb")
    if create:
        store.init()
    return store
