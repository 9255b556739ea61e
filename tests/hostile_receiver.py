"""A hostile receiver on 127.0.0.1: it accepts the connection and then never finishes answering.

Every read the sender makes gets a byte quickly, so per-read socket timeouts never fire; only a true
wall-clock deadline ends the attempt. `stage` says where it drips:
- "tls": a TLS handshake record that announces 16 KB and arrives one byte at a time;
- "headers": the status line, then a header line one byte at a time;
- "body": complete headers announcing 100 KB, then the body one byte at a time;
- "silent": reads the request and says nothing at all.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Self


@dataclass
class Connection:
    accepted_at: float  # time.time()
    request: bytes = b""
    hung_up_at: float | None = None  # when a write failed because the sender had gone


class DrippingReceiver:
    def __init__(self, stage: str = "headers", interval: float = 0.5) -> None:
        assert stage in {"tls", "headers", "body", "silent"}
        self.stage, self.interval = stage, interval
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Connection]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.connections) < count:
            time.sleep(0.02)
        return self.connections

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection = Connection(accepted_at=time.time())
            with self._lock:
                self.connections.append(connection)
            threading.Thread(target=self._serve, args=(sock, connection), daemon=True).start()

    def _serve(self, sock: socket.socket, connection: Connection) -> None:
        sock.settimeout(1.0)
        try:
            if self.stage == "tls":
                connection.request = sock.recv(65536)  # the ClientHello
                sock.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KB is on its way…
                self._drip(sock, b"\x02\x00\x3f\xfc" + bytes(16380))  # …a ServerHello, one byte at a time
                return
            connection.request = self._read_request(sock)
            if self.stage == "headers":
                sock.sendall(b"HTTP/1.1 200 OK\r\n")
                self._drip(sock, b"X-Drip: " + b"a" * 10_000)
            elif self.stage == "body":
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                self._drip(sock, b"a" * 100_000)
            else:
                while not self._stopping.wait(self.interval):
                    pass
        except OSError:
            connection.hung_up_at = time.time()
        finally:
            sock.close()

    def _drip(self, sock: socket.socket, data: bytes) -> None:
        for byte in data:
            if self._stopping.is_set():
                return
            sock.sendall(bytes([byte]))
            time.sleep(self.interval)

    @staticmethod
    def _read_request(sock: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
            0,
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body
