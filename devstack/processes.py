"""Process helpers for the local stack: free ports, spawning detached, stopping by PID."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

from devicecare.errors import StackError


def free_port(host: str) -> int:
    """A TCP port that is free on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def service_user(name: str) -> pwd.struct_passwd | None:
    """The unprivileged account to run a server as when we are root, else None (run as us).

    PostgreSQL refuses to run as root, and Mosquitto drops to its own account by itself.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise StackError(
            f"running as root, but the system account {name!r} does not exist; "
            "run ./scripts/setup, which installs the Debian package that creates it"
        ) from None


def give_to(user: pwd.struct_passwd | None, *paths: Path) -> None:
    """Hand files or directories we created to the account a server runs as."""
    if user is None:
        return
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)


_spawned: list[subprocess.Popen[bytes]] = []
"""Servers this process started: kept so that their handles outlive the call."""


def spawn(
    argv: list[str], log: Path, user: pwd.struct_passwd | None = None
) -> subprocess.Popen[bytes]:
    """Start a long-running server in its own session, logging to `log`."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    _spawned.append(proc)
    return proc


def run(argv: list[str], user: pwd.struct_passwd | None = None) -> None:
    """Run a set-up command to completion; raise StackError with its output on failure."""
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
    )
    if result.returncode != 0:
        raise StackError(f"{argv[0]} failed ({result.returncode}): {result.stdout}{result.stderr}")


def alive(pid: int, name: str) -> bool:
    """True when `pid` is running and its command line mentions `name`.

    The name check keeps a recycled PID from being mistaken for our server; a zombie has
    an empty command line and so counts as gone.
    """
    reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return name.encode() in cmdline


def reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own finished child (no zombie is left)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, name: str, sig: signal.Signals, timeout_s: float) -> None:
    """Signal `pid` and wait for it to exit; SIGKILL after `timeout_s`."""
    if not alive(pid, name):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid, name):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while alive(pid, name):
        time.sleep(0.05)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a server's log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
