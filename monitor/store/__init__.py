"""Embedded alert store: SQLite in WAL mode, numbered forward migrations, one writer.

``Store`` is the writer (the output sink is its only user in a run); ``StoreReader`` is the
read side with typed rows (the dashboard imports only this side and the types).
"""

from monitor.store.reader import (
    AlertRow,
    CountRow,
    RunRow,
    SourceRow,
    StoreReader,
    resolve_media,
)
from monitor.store.schema import ALERT_COLUMNS, MIGRATIONS, SCHEMA_VERSION, StoreError
from monitor.store.writer import Store

__all__ = [
    "ALERT_COLUMNS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AlertRow",
    "CountRow",
    "RunRow",
    "SourceRow",
    "Store",
    "StoreError",
    "StoreReader",
    "resolve_media",
]
