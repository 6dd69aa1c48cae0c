"""deploy/nginx/dsar.conf: valid for nginx, uploads as large as the app takes, the client's
address and scheme passed on as the app expects (PROXY_FIX_X_FOR=1), and an access log without
link secrets, query strings or referrers: its log map is checked against the app's own
redaction, and the whole site on a real nginx when one is installed (Debian package nginx)."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dsar.config import DEFAULTS
from dsar.web.access_log import redact
from tests.support.pki import make_pki
from tests.support.ports import free_port

SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "dsar.conf"
needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (Debian package nginx; scripts/bootstrap test)")


def site_map(name: str) -> list[tuple[str, str]]:
    """The (source, value) lines of the site's ``map $uri $<name>`` block, in order."""
    block = re.search(r"\nmap \$uri \$" + name + r" \{\n(.*?)\n\}", SITE.read_text(), re.S)
    entries = []
    for line in block.group(1).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = re.fullmatch(r'("[^"]*"|\S+)\s+("[^"]*"|\S+);', line).groups()
            entries.append(tuple(part.strip('"') for part in parts))
    return entries


def nginx_map(name: str, uri: str) -> str:
    """What nginx's map ``name`` makes of ``$uri``: the first regex that matches, else the
    default, with ``$uri`` and the named captures put in."""
    value, groups = None, {}
    for source, result in site_map(name):
        if source.startswith("~"):
            flags = re.IGNORECASE if source.startswith("~*") else 0
            match = re.search(source.removeprefix("~*").removeprefix("~"), uri, flags)
            if match:
                value, groups = result, match.groupdict()
                break
        elif source == "default":
            value = result
    return re.sub(r"\$\{?(\w+)\}?", lambda m: uri if m[1] == "uri" else groups[m[1]], value)


@pytest.mark.parametrize("uri", [
    "/status/DSR-AB12-CD34/tok3n", "/confirm/DSR-AB12-CD34/tok3n", "/staff/setup/tok3n",
    "/STATUS/DSR-AB12-CD34/tok3n/more", "/status/DSR-AB12-CD34/download/tok3n",
    "/", "/status/DSR-AB12-CD34", "/status/DSR-AB12-CD34/download",
    "/status/DSR-AB12-CD34/download/code", "/status/DSR-AB12-CD34/answer", "/staff/setup",
    "/request/access", "/static/app.css"])
def test_nginx_log_path_hides_what_the_app_log_hides(uri):
    """The log map gives the very path dsar's own log would write (dsar.web.access_log)."""
    assert nginx_map("dsar_log_path", uri) == redact(uri)
    assert "tok3n" not in nginx_map("dsar_log_path", uri)


def test_nginx_takes_uploads_as_large_as_the_app():
    size = re.search(r"\n\s*client_max_body_size (\d+)m;", SITE.read_text()).group(1)
    assert int(size) * 1024 * 1024 == DEFAULTS["MAX_CONTENT_LENGTH"]
    assert nginx_map("dsar_log_request", "/healthz") == "0"
    assert nginx_map("dsar_log_request", "/status/x") == "1"


class Echo(BaseHTTPRequestHandler):
    """The app's stand-in: answers with the request headers it got, and an HSTS header."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps(dict(self.headers)).encode()
        self.send_response(200)
        self.send_header("Strict-Transport-Security", "max-age=1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def nginx_command(tmp_path: Path, *, upstream_port: int = 8000, ports=None) -> list[str]:
    """nginx running the site from ``tmp_path``: its certificate a throwaway CA's, its logs
    there, and, given ``ports``, on 127.0.0.1 only, with 127.0.0.2 as the monitoring host."""
    pki = make_pki(tmp_path / "pki", names=("dsar.example.org", "localhost"))
    site = (SITE.read_text()
            .replace("/etc/letsencrypt/live/dsar.example.org/fullchain.pem", str(pki.cert_file))
            .replace("/etc/letsencrypt/live/dsar.example.org/privkey.pem", str(pki.key_file))
            .replace("/var/log/nginx/", f"{tmp_path}/")
            .replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}"))
    if ports:
        site = re.sub(r"\n\s*listen \[::\].*", "", site
                      .replace("allow 192.0.2.10;", "allow 127.0.0.2;")
                      .replace("listen 443 ssl", f"listen 127.0.0.1:{ports['https']} ssl")
                      .replace("listen 80;", f"listen 127.0.0.1:{ports['http']};"))
    (tmp_path / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {tmp_path}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ {temp} include {tmp_path}/site.conf; }}\n")
    return [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp_path),
            "-c", str(tmp_path / "nginx.conf")]


@needs_nginx
def test_nginx_accepts_the_site(tmp_path):
    checked = subprocess.run([*nginx_command(tmp_path), "-t"], capture_output=True, text=True,
                             timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr


@pytest.fixture
def nginx(tmp_path):
    """The site on a real nginx in front of :class:`Echo`."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    ports = {"https": free_port(), "http": free_port()}
    command = nginx_command(tmp_path, upstream_port=upstream.server_port, ports=ports)
    server = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        assert polled(lambda: port_open(ports["https"])), "nginx did not start"
        yield {**ports, "ca": str(tmp_path / "pki" / "ca.pem"),
               "log": tmp_path / "dsar.access.log"}
    finally:
        server.terminate()
        server.communicate(timeout=30)
        upstream.shutdown()
        upstream.server_close()


def polled(probe, deadline: float = 15.0):
    """``probe()``'s first true answer, polled until ``deadline`` seconds (then its last)."""
    end = time.monotonic() + deadline
    while not (answer := probe()) and time.monotonic() < end:
        time.sleep(0.05)
    return answer


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def get(nginx, path: str, *, headers=None, tls=True, source="127.0.0.1"):
    """GET ``path`` through nginx: (status, headers, body)."""
    if tls:
        context = ssl.create_default_context(cafile=nginx["ca"])
        conn = http.client.HTTPSConnection("127.0.0.1", nginx["https"], context=context,
                                           source_address=(source, 0), timeout=10)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", nginx["http"], timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def log_lines(nginx, count: int) -> list[str]:
    """The access log once it holds ``count`` lines (nginx writes it as a request ends)."""
    def read() -> list[str]:
        return nginx["log"].read_text().splitlines() if nginx["log"].exists() else []

    polled(lambda: len(read()) >= count, 10)
    return read()


@needs_nginx
def test_nginx_log_never_holds_a_link_secret(nginx):
    sent = ["/status/DSR-AB12-CD34/secret1?email=secret2", "/confirm/DSR-AB12-CD34/secret3",
            "/staff/setup/secret4", "//status//DSR-AB12-CD34//secret5",
            "/%73tatus/DSR-AB12-CD34/secret6", "/status/DSR-AB12-CD34/download/../secret7",
            "/%2573tatus/DSR-AB12-CD34/secret8", "/status/DSR-AB12-CD34/download"]
    for path in sent:
        get(nginx, path, headers={"Referer": "https://x/status/DSR-AB12-CD34/secret9"})
    assert get(nginx, "/confirm/DSR-AB12-CD34/secret10", tls=False)[0] == 301
    assert get(nginx, "/healthz")[0] == get(nginx, "/readyz")[0] == 200
    lines = log_lines(nginx, len(sent) + 1)
    text = "\n".join(lines)
    assert len(lines) == len(sent) + 1, text  # the health checks are not logged
    assert "secret" not in text and "healthz" not in text
    assert text.count("/status/DSR-AB12-CD34/[redacted]") == 4, text
    assert text.count("/confirm/DSR-AB12-CD34/[redacted]") == 2, text
    assert '"GET /staff/setup/[redacted] HTTP/1.1" 200' in text
    assert '"GET [encoded path] HTTP/1.1" 200' in text
    assert '"GET /status/DSR-AB12-CD34/download HTTP/1.1" 200' in text


@needs_nginx
def test_nginx_tells_the_app_who_asked_and_how(nginx):
    """X-Forwarded-For is the address nginx saw, whatever the client claimed (one proxy:
    PROXY_FIX_X_FOR=1); X-Forwarded-Proto is https; one HSTS header; /metrics only for the
    monitoring host."""
    status, headers, body = get(nginx, "/", headers={"X-Forwarded-For": "203.0.113.9"})
    seen = json.loads(body)
    assert (status, seen["X-Forwarded-For"], seen["X-Forwarded-Proto"]) == (
        200, "127.0.0.1", "https")
    assert headers.get_all("Strict-Transport-Security") == [
        "max-age=63072000; includeSubDomains"]
    assert get(nginx, "/metrics")[0] == 403
    assert get(nginx, "/metrics", source="127.0.0.2")[0] == 200
