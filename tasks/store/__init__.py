"""The store: one protocol (base.py), an embedded SQLite backend and a DynamoDB backend.

    from tasks.store import open_store
    store = open_store()            # from ARENA_STORE_URL / ARENA_TABLE_PREFIX; must exist
    store = open_store(create=True) # `arena db init`: the only way a store comes to be
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
from tasks.store.sqlite import SqliteStore

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


def open_store(
    settings: StoreSettings | None = None,
    *,
    create: bool = False,
    read_only: bool = False,
    require_tables: bool = True,
) -> Store:
    """The store ARENA_STORE_URL names: `sqlite:///path.db` or `dynamodb` / `dynamodb://`
    (endpoint from AWS_ENDPOINT_URL_DYNAMODB, region and credentials from the usual AWS settings).

    Only `create=True` (`arena db init`, `arena db restore`) makes a store: it creates the SQLite
    file and its folder and every missing table. Everything else opens what is there, and a
    missing file, a zero-byte file or a prefix with no tables raises StoreError naming the
    problem, so a typo in ARENA_STORE_URL or ARENA_TABLE_PREFIX never gives an empty store that
    a publish would then render as an empty leaderboard. `require_tables=False` opens an
    existing store whose tables may be missing (`arena db check/destroy`, which report them).

    `read_only` opens SQLite with mode=ro: such a store never takes the write lock, so a
    listing or a publish runs while another process writes (DynamoDB has no such lock).
    """
    settings = settings or StoreSettings()
    if create and read_only:
        raise ValueError("a store opened read-only cannot be created")
    url = settings.url.strip()
    path = sqlite_path(url)
    store: Store
    if path is not None:
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of {path}: {exc}") from exc
        else:
            _check_sqlite_file(path)
        store = SqliteStore(path, settings.table_prefix, busy_timeout_s=settings.sqlite_busy_timeout_s,
                            mode="rwc" if create else "ro" if read_only else "rw")
        where = str(path)
    elif url in ("dynamodb", "dynamodb://"):
        from tasks.store.dynamodb import DynamoStore  # noqa: PLC0415 - boto3 only for a DynamoDB store

        store = DynamoStore(settings.table_prefix)
        where = "DynamoDB"
    else:
        raise StoreError(f"unknown store URL {url!r}: use sqlite:///path/arena.db or dynamodb")
    if create:
        store.init()
    elif require_tables:
        _require_tables(store, where)
    return store


def _check_sqlite_file(path: Path) -> None:
    # Checked before SQLite opens the file: opening a zero-byte file as a writer would write a
    # header into it and make it look like a store.
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise StoreError(f"no store at {path}: create it with `arena db init` (or fix ARENA_STORE_URL)") from None
    except OSError as exc:
        raise StoreError(f"cannot read the store {path}: {exc}") from exc
    if not path.is_file():
        raise StoreError(f"the store {path} is not a file")
    if size == 0:
        raise StoreError(f"the store {path} is an empty file (0 bytes), not an arena store; "
                         "`arena db init` makes it one")


def _require_tables(store: Store, where: str) -> None:
    missing = store.missing_tables()
    if not missing:
        return
    if len(missing) < len(TABLES):
        raise StoreError(f"table(s) {', '.join(missing)} of prefix {store.prefix!r} missing in {where}; "
                         "run `arena db init`")
    try:
        others = [prefix for prefix in store.prefixes() if prefix != store.prefix]
    except StoreError:  # only a hint: e.g. no ListTables permission
        others = []
    held = f" (it holds prefix {', '.join(repr(p) for p in others)})" if others else ""
    raise StoreError(f"no tables with prefix {store.prefix!r} in {where}{held}: check ARENA_TABLE_PREFIX, "
                     "or create them with `arena db init`")
