"""The socket under a py-amqp connection, read more than a frame at a time (the worker's
consumers and the confirming producer)."""

from __future__ import annotations

import socket
from typing import Any

#: Bytes a socket reads at once: a few prefetched messages (or confirms), little to copy.
READ_AHEAD = 4096


def plain_socket(conn: Any) -> socket.socket | None:
    """The TCP socket of a py-amqp connection (not TLS, not another transport), else None."""
    try:
        from amqp.transport import TCPTransport  # type: ignore[import-untyped]
    except ImportError:
        return None
    transport = getattr(conn.connection, "transport", None)
    if not isinstance(transport, TCPTransport):
        return None
    sock = getattr(transport, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def read_ahead(conn: Any, sock: socket.socket | None) -> None:
    """Let py-amqp read whatever the socket holds, up to READ_AHEAD bytes, in one call.

    py-amqp reads each frame with three exact-size reads (header, payload, end byte), three
    frames a message: nine system calls a job. Its reader keeps any surplus bytes for the next
    frame, so a larger read takes the prefetched messages (or a confirm, a three-read frame
    of 21 bytes) in one call.
    """
    transport: Any = getattr(conn.connection, "transport", None)
    if sock is not None and hasattr(transport, "_quick_recv"):
        recv = sock.recv
        transport._quick_recv = lambda size: recv(max(size, READ_AHEAD))
