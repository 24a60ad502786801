"""A loopback TCP relay that cuts the connection after a set number of bytes from the server.

Stands between a client and a real server to make "the connection dropped mid-answer" happen at
the same point every run, without timing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

CHUNK = 16384


@contextmanager
def cutting_relay(target_port: int, cut_after_bytes: int) -> Iterator[int]:
    """Yield a port that relays to ``target_port`` and closes both sides after that many bytes
    have come back from the server."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=_pump, args=(client, server, None), daemon=True).start()
            threading.Thread(
                target=_pump, args=(server, client, cut_after_bytes), daemon=True
            ).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() that close() alone would not
        listener.close()
        thread.join(timeout=5)


def _pump(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
    sent = 0
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            if limit is not None and sent + len(data) >= limit:
                sink.sendall(data[: limit - sent])
                break
            sink.sendall(data)
            sent += len(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
