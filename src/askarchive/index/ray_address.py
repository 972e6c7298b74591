"""Where ``--ray`` points: the option's forms, a cluster's address, and whether Ray is there.

Checked before any work, so a wrong address or a missing extra is one line at once, not a
traceback minutes later. Ray itself is imported only when asked for (``import_ray``).
"""

from __future__ import annotations

import socket
from typing import Any

from askarchive.errors import AskArchiveError

INSTALL_HINT = "--ray needs Ray, which is not installed: run `pip install 'askarchive[ray]'`"
# Values of ``ray`` that start a Ray instance on this machine for the run.
LOCAL = ("", "local")
# Seconds to open a TCP connection to ADDRESS before calling ray.init, which otherwise retries an
# unreachable cluster for minutes.
CONNECT_TIMEOUT = 5.0


class RayUnavailable(AskArchiveError):
    """The Ray extra is not installed, or the cluster cannot be reached or used."""

    exit_code = 2


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(INSTALL_HINT) from exc
    return ray


def normalise(ray: str | bool | None) -> str | None:
    """None (no Ray), "" (a local Ray for this run) or a cluster address."""
    if ray is None or ray is False:
        return None
    if ray is True:
        return ""
    address = str(ray).strip()
    return "" if address.lower() in LOCAL else address


def _host_port(address: str) -> tuple[str, int] | None:
    """Where to test reachability: GCS ``HOST[:6379]`` or Ray Client ``ray://HOST[:10001]``."""
    if address == "auto":
        return None  # Ray looks for a cluster this machine already belongs to
    rest, default = address, 6379
    if rest.startswith("ray://"):
        rest, default = rest[len("ray://") :], 10001
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):  # [IPv6]:port
        host, _, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
    try:
        return host, int(port) if port else default
    except ValueError:
        raise RayUnavailable(
            f"--ray {address}: the port is not a number; use HOST:PORT or ray://HOST:PORT"
        ) from None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__.replace("Error", "").lower() or str(exc)
        raise RayUnavailable(
            f"cannot reach a Ray cluster at {address} ({reason}); check the address (HOST:6379, "
            "or ray://HOST:10001 for Ray Client) and that `ray status` works on that machine, "
            "or pass --ray alone to start a local Ray"
        ) from None
