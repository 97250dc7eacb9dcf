"""The package's own exception types: callers catch these, never psycopg's."""

from __future__ import annotations

import psycopg


class ConnectionSummaryError(Exception):
    """Base class of every error this package raises."""
    exit_code = 1


class InvalidArgument(ConnectionSummaryError, ValueError):
    """Bad input: an empty or over-long route id, a bad limit, a tampered cursor."""
    exit_code = 2


class NotFound(ConnectionSummaryError, LookupError):
    """The route id resolves to no connection of this owner."""
    exit_code = 3


class PermissionDenied(ConnectionSummaryError, PermissionError):
    """The database role may not do this: not a reader, or confined to other owners."""
    exit_code = 11


class DatabaseUnavailable(ConnectionSummaryError):
    """The database cannot be reached or started."""
    exit_code = 4


class MigrationError(ConnectionSummaryError):
    """A migration could not be applied."""
    exit_code = 5


class MigrationChecksumMismatch(MigrationError):
    """An already-applied migration file was edited after it was applied."""
    exit_code = 6


class SchemaTooNew(MigrationError):
    """The database has migrations this code does not know: the code is older."""
    exit_code = 7


class SchemaTooOld(MigrationError):
    """The database lacks migrations this code needs: run `connection-summary migrate`."""
    exit_code = 8


class MigrationLockTimeout(MigrationError):
    """Another process held the migration lock, or a table lock, for too long."""
    exit_code = 9


# SQLSTATE -> the error it means; classes 08 (connection) and OperationalError: unavailable.
_BY_STATE: dict[str, type[ConnectionSummaryError]] = {
    **dict.fromkeys(["22023", "22P02", "22007", "22008", "2201W", "2201X", "22001", "22003"],
                    InvalidArgument),
    "P0002": NotFound, "42501": PermissionDenied, "55P03": MigrationLockTimeout,
    **dict.fromkeys(["57P01", "57P02", "57P03"], DatabaseUnavailable),
}


def map_database_error(exc: psycopg.Error) -> ConnectionSummaryError:
    """Translate a psycopg error into the package's own type, keeping the message."""
    state, diag = exc.sqlstate or "", exc.diag
    message = diag.message_primary or str(exc)
    if diag.message_hint:
        message = f"{message} (hint: {diag.message_hint})"
    if state in _BY_STATE:
        return _BY_STATE[state](message)
    if isinstance(exc, psycopg.OperationalError) or state.startswith("08"):
        return DatabaseUnavailable(message)
    if state in {"42P01", "42883", "3F000"}:
        return SchemaTooOld(f"{message}: the connection_summary schema is missing or old; "
                            "run `connection-summary migrate`")
    return ConnectionSummaryError(message)
