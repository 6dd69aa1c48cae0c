"""The load generator of ``bench/portal.py``: a small HTTP/1.1 client on raw sockets (a
request costs it tens of microseconds of CPU, where a full client library costs hundreds, and
the machine's two cores are the server's), driven by threads, closed-loop (as fast as the
server answers) or paced (a fixed rate, latency counted from when each request was due).

Each simulated visitor is a client address of its own (``X-Forwarded-For``, which the server
trusts with ``PROXY_FIX_X_FOR=1`` as it would behind nginx), so the per-address rate limits
apply to visitors as in production instead of all of them at once."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CSRF = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"|'
                  rb'name="csrf_token" value="([^"]+)"')


class HttpError(Exception):
    """An answer the scenario did not expect (or none)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One client's connection, kept alive when the server allows it, reopened when not."""

    def __init__(self, host: str, port: int):
        self.address, self.sock, self.buffer = (host, port), None, b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes = b"") -> Response:
        """Send one request, read its whole answer."""
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock.sendall(data)
            return self._read()
        except OSError as exc:
            self.close()
            raise HttpError(f"{method} {path}: {exc}") from None

    def _recv(self) -> bytes:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise OSError("connection closed by the server")
        return chunk

    def _read(self) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            # Several Set-Cookie lines: only the session cookie matters here, kept whole.
            headers[name] = value.strip() if name not in headers else headers[name] + ", " + \
                value.strip()
        if "content-length" not in headers:
            raise OSError("an answer without Content-Length")
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)


def session_cookie(response: Response, current: str | None) -> str | None:
    """The ``session=...`` pair of a Set-Cookie, or ``current`` when none was set."""
    match = re.search(r"(?:^|, )(session=[^;]*)", response.headers.get("set-cookie", ""))
    return match.group(1) if match else current


def csrf_token(response: Response) -> str:
    match = CSRF.search(response.body)
    if not match:
        raise HttpError("no CSRF token on the page")
    return (match.group(1) or match.group(2)).decode()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[str,
                                                                                        bytes]:
    """A multipart/form-data body as a browser sends it; returns (content type, body)."""
    boundary = "----dsarbench" + format(threading.get_ident(), "x") + str(time.monotonic_ns())
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode() + b"\r\n")
    for name, (filename, content, kind) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
                     + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


@dataclass
class Tally:
    """What a phase measured: each scenario's latencies (seconds) per step, the errors."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, steps: dict[str, float]) -> None:
        with self.lock:
            self.completed += 1
            for name, seconds in steps.items():
                self.latencies.setdefault(name, []).append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


#: A scenario: one visitor's action on its connection; returns each step's latency. It gets
#: the thread's connection, the visitor's number and when the action was due (perf_counter).
Scenario = Callable[[Connection, int, float], dict[str, float]]


def run_phase(scenario: Scenario, host: str, port: int, *, threads: int, seconds: float,
              rate: float | None, first_visitor: int) -> tuple[Tally, float, float]:
    """Run ``scenario`` from ``threads`` threads for ``seconds``: back to back (``rate`` None)
    or ``rate`` actions a second in all. Returns the tally, the wall time and this process's
    CPU seconds over the phase (the generator's own cost)."""
    tally, counter, lock = Tally(), [first_visitor], threading.Lock()
    start = time.perf_counter() + 0.05
    end = start + seconds

    def next_visitor() -> int:
        with lock:
            counter[0] += 1
            return counter[0]

    def loop(index: int) -> None:
        conn, k = Connection(host, port), 0
        while True:
            due = (start + (k * threads + index) / rate) if rate else time.perf_counter()
            if due >= end or time.perf_counter() >= end + 1:
                break  # a generator or a server that fell behind stops on time all the same
            if rate:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            k += 1
            try:
                tally.add(scenario(conn, next_visitor(), due))
            except HttpError as exc:
                conn.close()
                tally.error(str(exc))
        conn.close()

    cpu = time.process_time()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return tally, time.perf_counter() - start, time.process_time() - cpu
