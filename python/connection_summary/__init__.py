"""connection-summary: per-connection state projected by PostgreSQL functions."""

from __future__ import annotations

from .errors import (
    ConnectionSummaryError,
    DatabaseUnavailable,
    InvalidArgument,
    MigrationChecksumMismatch,
    MigrationError,
    MigrationLockTimeout,
    NotFound,
    SchemaTooNew,
    SchemaTooOld,
)
from .migrations import bootstrap, migrate, migration_status, pending_sql

__all__ = [
    "ConnectionSummaryError",
    "DatabaseUnavailable",
    "InvalidArgument",
    "MigrationChecksumMismatch",
    "MigrationError",
    "MigrationLockTimeout",
    "NotFound",
    "SchemaTooNew",
    "SchemaTooOld",
    "bootstrap",
    "migrate",
    "migration_status",
    "pending_sql",
]
