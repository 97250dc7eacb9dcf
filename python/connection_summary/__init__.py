"""connection-summary: per-connection state projected by PostgreSQL functions."""

from __future__ import annotations

from importlib import metadata as _metadata

from .client import AsyncClient, Client
from .coalesce import REGISTRY, OverviewKey, Registry, SharedExecutionInterrupted
from .errors import (
    ConnectionSummaryError,
    DatabaseUnavailable,
    InvalidArgument,
    MigrationChecksumMismatch,
    MigrationError,
    MigrationLockTimeout,
    NotFound,
    PermissionDenied,
    SchemaTooNew,
    SchemaTooOld,
)
from .migrations import bootstrap, migrate, migration_status, pending_sql
from .models import (
    Backoff,
    BrowserSurface,
    ConnectionHealth,
    Diagnostics,
    Freshness,
    HealthAxes,
    HealthBadges,
    Pill,
    RenderedVerdict,
    RequiredAction,
    RetainedBytes,
    RunEvent,
    RunSummary,
    Schedule,
    StreamRecord,
    Summary,
    UnexpectedShape,
)

try:
    # pyproject.toml's `version` is the only place the version is written.
    __version__ = _metadata.version("connection-summary")
except _metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "REGISTRY", "AsyncClient", "Backoff", "BrowserSurface", "Client", "ConnectionHealth",
    "ConnectionSummaryError", "DatabaseUnavailable", "Diagnostics", "Freshness", "HealthAxes",
    "HealthBadges", "InvalidArgument", "MigrationChecksumMismatch", "MigrationError",
    "MigrationLockTimeout", "NotFound", "OverviewKey", "PermissionDenied", "Pill", "Registry",
    "RenderedVerdict", "RequiredAction", "RetainedBytes", "RunEvent", "RunSummary", "Schedule",
    "SchemaTooNew", "SchemaTooOld", "SharedExecutionInterrupted", "StreamRecord", "Summary",
    "UnexpectedShape", "__version__", "bootstrap", "migrate", "migration_status", "pending_sql",
]
