"""Direct transmission of a portability package to the receiving controller (Art. 20(2)).

The address comes from the requester's form: sending there is a request our worker makes to
a URL chosen from outside, the classic road to a cloud metadata service, a database or an
admin port on our own network (SSRF). So: https only, no credentials in the URL, and every
address the name resolves to must be public (unless ``TRANSMIT_ALLOW_PRIVATE``, for tests).
The connection then goes to an address that was checked, the name serving only as TLS SNI
and ``Host``: a DNS answer that changes between check and connect (rebinding) cannot steer
it elsewhere. Redirects are not followed, for the same reason.

The URL's path or query may hold an account token: only the host is recorded, and the URL is
never logged (httpx's own request line is dropped by the filter that
:mod:`dsar.sources.http_client` installs on import).
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from flask import current_app
from sqlalchemy import select

from dsar.core import storage
from dsar.core.audit import record_event
from dsar.extensions import db
from dsar.models import (
    ActorType,
    ExportPackage,
    PackageScope,
    PackageStatus,
    Transmission,
    TransmissionStatus,
)
from dsar.models.types import utcnow
from dsar.sources.http_client import user_agent  # importing it also drops httpx's URL log lines

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
#: IPv6 prefix that carries an IPv4 address through a NAT64 gateway (RFC 6052).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TransmissionRefused(Exception):
    """The destination is not allowed; ``code`` says why (``not-https``, ``invalid-url``,
    ``credentials-in-url``, ``unresolvable``, ``private-address``)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Destination:
    """A checked destination: the URL as httpx parsed it and the addresses to connect to."""

    url: httpx.URL
    addresses: tuple[str, ...]

    @property
    def host(self) -> str:
        """The host name in ASCII (IDNA) form, or the IP address as written."""
        return self.url.raw_host.decode("ascii")


def is_blocked(address: IPAddress) -> bool:
    """Whether ``address`` is anything but a public unicast address, including a private,
    loopback or link-local IPv4 address wrapped in an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and is_blocked(embedded):
            return True
        if address.is_site_local:
            return True
    # is_global alone leaves out e.g. some multicast ranges: every test is listed on purpose.
    return (not address.is_global or address.is_private or address.is_loopback
            or address.is_link_local or address.is_multicast or address.is_reserved
            or address.is_unspecified)


def check_destination(url: str, *, allow_private: bool) -> Destination:
    """Parse and check ``url``; resolve its host. Raises :class:`TransmissionRefused` unless
    it is ``https://``, without user or password, and (unless ``allow_private``) every
    address the host resolves to is public."""
    if not isinstance(url, str):
        raise TransmissionRefused("invalid-url")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise TransmissionRefused("invalid-url") from None
    if parsed.scheme != "https":
        raise TransmissionRefused("not-https")
    if parsed.userinfo:
        raise TransmissionRefused("credentials-in-url")
    if not parsed.raw_host:
        raise TransmissionRefused("invalid-url")
    try:
        found = socket.getaddrinfo(parsed.raw_host.decode("ascii"), parsed.port or 443,
                                   type=socket.SOCK_STREAM)
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in found))
        parsed_addresses = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
    except (OSError, UnicodeError, ValueError):  # gaierror is an OSError
        raise TransmissionRefused("unresolvable") from None
    if not addresses:
        raise TransmissionRefused("unresolvable")
    if not allow_private and any(is_blocked(a) for a in parsed_addresses):
        raise TransmissionRefused("private-address")
    return Destination(parsed, addresses)


def _chunks(blob_id: str) -> Iterator[bytes]:
    """The decrypted ZIP, a piece at a time: the package is never held whole in memory."""
    with storage.reader(blob_id) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def _tls_context() -> ssl.SSLContext:
    """The system's CAs, plus ``TRANSMIT_CA_FILE`` if set; hostname checking on."""
    context = ssl.create_default_context()
    ca_file = current_app.config.get("TRANSMIT_CA_FILE")
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def post_package(destination: Destination, package: ExportPackage, reference: str) -> int:
    """POST the package's ZIP to ``destination``, connecting to its checked addresses in
    turn (the next one only if connecting failed). Returns the HTTP status; the answer's body
    is never read. Raises ``httpx.HTTPError`` (or ``storage.BlobError``) on failure."""
    digest = base64.b64encode(bytes.fromhex(package.sha256)).decode("ascii")
    headers = {
        "Host": destination.url.netloc.decode("ascii"),
        "User-Agent": user_agent(),
        "Content-Type": "application/zip",
        # An explicit length: no chunked encoding, which some receivers do not accept.
        "Content-Length": str(package.size),
        "Content-Digest": f"sha-256=:{digest}:",  # RFC 9530
        "X-Content-SHA256": package.sha256,
        "X-DSAR-Reference": reference,
    }
    # trust_env=False: a proxy from the environment would resolve the name itself.
    with httpx.Client(verify=_tls_context(), timeout=current_app.config["TRANSMIT_TIMEOUT"],
                      follow_redirects=False, trust_env=False) as client:
        for index, address in enumerate(destination.addresses):
            request = client.build_request(
                "POST", destination.url.copy_with(host=address), headers=headers,
                content=_chunks(package.blob_id),
                extensions={"sni_hostname": destination.host})
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError:  # nothing was sent yet: try the next address
                if index + 1 == len(destination.addresses):
                    raise
                continue
            response.close()
            return response.status_code
    raise ValueError("a destination without any address")  # check_destination never makes one


def _attempt(package: ExportPackage,
             url: str) -> tuple[TransmissionStatus, int | None, str | None]:
    """Check, then send; the outcome as (status, HTTP status, short code: None if sent)."""
    if package.status is not PackageStatus.RELEASED or not package.blob_id:
        return TransmissionStatus.REFUSED, None, "not-released"
    if package.expires_at is not None and package.expires_at <= utcnow():
        return TransmissionStatus.REFUSED, None, "expired"
    if package.scope != PackageScope.PORTABILITY:
        return TransmissionStatus.REFUSED, None, "not-portability"
    allow_private = bool(current_app.config.get("TRANSMIT_ALLOW_PRIVATE"))
    try:
        destination = check_destination(url, allow_private=allow_private)
        status = post_package(destination, package, package.case.reference)
    except TransmissionRefused as refusal:
        return TransmissionStatus.REFUSED, None, refusal.code
    except Exception as exc:  # noqa: BLE001 - any failure (network, storage, the job's time
        # limit) must still be recorded; the class name only: httpx's messages quote the URL.
        return TransmissionStatus.FAILED, None, type(exc).__name__
    if 200 <= status < 300:
        return TransmissionStatus.SENT, status, None
    return TransmissionStatus.FAILED, status, f"http-{status}"


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).raw_host.decode("ascii")[:255]
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""


def transmit(package_id: int, url: str, *, staff_id: int | None = None,
             actor_id: str | None = None) -> Transmission:
    """Send a released portability package to ``url`` (the receiving controller's endpoint)
    and record the outcome: a :class:`Transmission` row (host only) and a
    ``package.transmitted`` audit event, committed. Never raises for a refused address, a
    network error or an error answer: the row says REFUSED or FAILED with a short code. A
    package already sent to the same host is not sent again: that row is returned."""
    package = db.session.get(ExportPackage, package_id)
    if package is None:
        raise LookupError(f"no export package {package_id}")
    host = _host_of(url)
    done = db.session.scalar(select(Transmission).where(
        Transmission.package_id == package_id, Transmission.host == host,
        Transmission.status == TransmissionStatus.SENT).limit(1))
    if done is not None:
        return done
    status, http_status, detail = _attempt(package, url)
    row = Transmission(case_id=package.case_id, package_id=package.id, staff_id=staff_id,
                       host=host, status=status, http_status=http_status, detail=detail)
    db.session.add(row)
    db.session.flush()
    record_event("package.transmitted", case=package.case, actor_type=ActorType.WORKER,
                 actor_id=actor_id,
                 payload={"package_id": package.id, "transmission_id": row.id,
                          "status": str(status), "http_status": http_status, "detail": detail})
    db.session.commit()
    logger.info("case %s: package %s transmission %s %s (%s)", package.case_id, package.id,
                row.id, status, detail)
    return row
