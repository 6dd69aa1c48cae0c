"""Encrypted blob store for identity documents, search results and exports. Plaintext never
touches the disk; blob ids are random and carry no meaning.

Where the sealed bytes are kept is the backend's business (:mod:`dsar.core.blob_backends`: a
local folder, or the application's database, as ``STORAGE_URL`` chooses); this module seals and
opens them. Two formats live side by side; the blob's *name*, never its content, says which it
holds. ``<id>``: one-shot blobs (:func:`put`): ``nonce(12) || AES-256-GCM
ciphertext || tag(16)`` under the storage key, the blob id as associated data (a file moved to
another id fails to decrypt). ``<id>.stream``: streamed blobs (:func:`writer`, :func:`reader`;
memory stays flat whatever the size), the STREAM construction (Hoang, Reyhanitabar, Rogaway,
Vizar 2015) over AES-256-GCM::

    header    = b"DSARSTR" || version 0x01 || salt (16 random bytes) || prefix (7 random bytes)
    key       = HKDF-SHA256(storage key, salt=salt, info=b"dsar blob stream v1")
    nonce_i   = prefix || i (4 bytes, big-endian) || 0x01 if segment i is the last else 0x00
    segment_i = AES-256-GCM(key, nonce_i, plaintext_i, aad=blob id (ASCII) || header)
    file      = header || segment_0 || ... || segment_n-1      (each segment: ciphertext || tag)

Segments hold 64 KiB of plaintext, the last one 1 to 64 KiB (an empty blob: one empty segment).
With the counter and last flag in the nonce, a modified, swapped, removed, duplicated or foreign
segment fails, and so does a file cut at a segment boundary (its new last segment was sealed with
flag 0); the aad binds the file to its id and freezes the header. A per-blob key: 7 random nonce
bytes under one shared key could collide after a few million blobs. The reader hands out a
segment only once authenticated, and the end only after the flagged last segment: reading to the
end proves the blob whole (earlier segments read before a BlobError were genuine).

Why a suffix and not the magic alone: a one-shot blob starts with a random nonce, which any magic
could match (2^-56 for 7 bytes: unlikely, not impossible). The magic and version still check that
a ``.stream`` file is one, and let a future format be refused cleanly.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dsar.core.blob_backends import StorageConfigError
from dsar.core.blob_backends import current_backend as backend
from dsar.core.keys import derived_key
from dsar.core.sealing import BlobError, seal, unseal

__all__ = ["BlobError", "BlobReader", "BlobWriter", "StoredBlob", "backend", "check_writable",
           "delete", "exists", "get", "put", "reader", "seal", "text_writer", "unseal",
           "writer"]

logger = logging.getLogger(__name__)

NONCE_BYTES = 12
SEGMENT_BYTES = 64 * 1024  # plaintext per segment of a streamed blob
TAG_BYTES = 16
STREAM_MAGIC = b"DSARSTR"
STREAM_VERSION = 1
STREAM_SUFFIX = ".stream"
_SALT_BYTES = 16
_PREFIX_BYTES = 7
HEADER_BYTES = len(STREAM_MAGIC) + 1 + _SALT_BYTES + _PREFIX_BYTES
_MAX_SEGMENTS = 2**32  # the 4-byte counter: 256 TiB per blob


@dataclass(frozen=True)
class StoredBlob:
    """What the store recorded: the id to read it back, the plaintext size and SHA-256."""

    blob_id: str
    size: int
    sha256: str


def _name(blob_id: str) -> str:
    """The one-shot blob's name in the backend (the id, once checked)."""
    if not blob_id or any(c not in "0123456789abcdef" for c in blob_id):
        raise BlobError("malformed blob id")
    return blob_id


def put(data: bytes) -> StoredBlob:
    """Encrypt and store ``data``; returns its new id, size and SHA-256."""
    blob_id = secrets.token_hex(20)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derived_key("storage")).encrypt(nonce, data, blob_id.encode())
    sink = backend().create(_name(blob_id))
    try:
        sink.write(nonce + sealed)
    except BaseException:
        sink.discard()
        raise
    sink.commit()
    return StoredBlob(blob_id=blob_id, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def check_writable() -> None:
    """Store a small blob, read it back and delete it: BlobError, in plain words, if the
    storage cannot keep a blob (a folder not writable, a database refusing the rows)."""
    probe = os.urandom(32)
    try:
        blob = put(probe)
        try:
            if get(blob.blob_id) != probe:
                raise BlobError("the storage handed back other bytes than it was given")
        finally:
            delete(blob.blob_id)
    except BlobError:
        raise
    except StorageConfigError as exc:
        raise BlobError(str(exc)) from None
    except Exception as exc:  # OSError, a database error: say which, without the details
        first_line = (str(exc).strip().splitlines() or [""])[0]  # not a database's whole report
        raise BlobError(f"cannot store a blob in {backend().describe()} "
                        f"({type(exc).__name__}: {first_line})") from None


def get(blob_id: str) -> bytes:
    """Read back and authenticate the whole plaintext of ``blob_id`` (one-shot or streamed)."""
    try:
        raw = backend().read_all(_name(blob_id))
    except FileNotFoundError:
        with BlobReader(blob_id) as stream:  # BlobError "no such blob" if neither file exists
            return stream.read()
    try:
        return AESGCM(derived_key("storage")).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], blob_id.encode()
        )
    except InvalidTag:
        raise BlobError("blob failed authentication") from None


def delete(blob_id: str) -> bool:
    """Remove a blob (one-shot or streamed); True if it existed. Used once a proof has served its
    purpose."""
    store = backend()
    removed = [store.remove(name) for name in (_name(blob_id), _stream_name(blob_id))]
    return any(removed)


def exists(blob_id: str) -> bool:
    """Whether the blob (one-shot or streamed) is still stored."""
    store = backend()
    return store.has(_name(blob_id)) or store.has(_stream_name(blob_id))


# --- Streamed blobs -------------------------------------------------------------------------


def _stream_name(blob_id: str) -> str:
    return _name(blob_id) + STREAM_SUFFIX


def _stream_cipher(salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
               info=b"dsar blob stream v1").derive(derived_key("storage"))
    return AESGCM(key)


def _commit_unless_failed(stream: BlobWriter | TextBlobWriter, exc_type, exc, tb) -> None:
    """``__exit__`` of the writers: commit if the block succeeded; close (a discard if not)."""
    try:
        if exc_type is None:
            stream.commit()
    finally:
        stream.close()


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= _MAX_SEGMENTS:
        raise BlobError("blob too large")
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class BlobWriter(io.BufferedIOBase):
    """A new streamed blob, written in pieces of any size; memory stays at about one segment.
    Leaving its ``with`` block normally commits (:attr:`blob` is then set); an exception, or
    closing or dropping it without :meth:`commit`, discards all: a part is never stored. For text
    use :func:`text_writer`, or flush your own ``io.TextIOWrapper`` before the commit (its
    pending text is out of our sight). Not thread-safe."""

    def __init__(self) -> None:
        super().__init__()
        self._sink = self._blob = None
        self._pending, self._failed = bytearray(), False  # plaintext of the segment being filled
        self.blob_id = secrets.token_hex(20)
        salt, self._prefix = os.urandom(_SALT_BYTES), os.urandom(_PREFIX_BYTES)
        header = STREAM_MAGIC + bytes([STREAM_VERSION]) + salt + self._prefix
        self._aad = self.blob_id.encode() + header
        self._cipher = _stream_cipher(salt)
        self._index, self._size, self._sha = 0, 0, hashlib.sha256()
        self._sink = backend().create(_stream_name(self.blob_id))
        self._sink.write(header)

    def writable(self) -> bool:
        """Always True."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Add ``data``; returns its length in bytes. Full segments are sealed and written
        straight away, the rest waits in memory for more data or the commit."""
        if self.closed:
            raise ValueError("write to a closed blob writer")
        with memoryview(data) as view, view.cast("B") as flat:
            try:
                self._sha.update(flat)
                self._size += len(flat)
                pos = 0
                while pos < len(flat):
                    if len(self._pending) == SEGMENT_BYTES:  # more data: it was not the last
                        self._seal(self._pending, last=False)
                        self._pending.clear()
                    take = min(SEGMENT_BYTES - len(self._pending), len(flat) - pos)
                    self._pending += flat[pos:pos + take]
                    pos += take
            except BaseException:
                self._failed = True  # half a write went out: this blob can only be discarded
                raise
            return len(flat)

    def _seal(self, plaintext: bytes | bytearray | memoryview, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        self._sink.write(self._cipher.encrypt(nonce, plaintext, self._aad))
        self._index += 1

    def commit(self) -> StoredBlob:
        """Seal the last segment and commit it to the backend (a local file is fsynced and
        renamed into place); returns (and sets) :attr:`blob`."""
        if self._blob is not None:
            return self._blob
        if self.closed or self._failed:
            self.close()
            raise BlobError("the blob writer was discarded or failed")
        try:
            self._seal(self._pending, last=True)
        except BaseException:
            self.close()
            raise
        sink, self._sink = self._sink, None
        try:
            sink.commit()  # discards on failure
        except BaseException:
            self.close()
            raise
        self._blob = StoredBlob(self.blob_id, self._size, self._sha.hexdigest())
        logger.debug("stored streamed blob %s (%d segments)", self.blob_id, self._index)
        self.close()
        return self._blob

    def close(self) -> None:
        """Close; without a prior :meth:`commit` this discards the blob."""
        if not self.closed and self._blob is None and self._sink is not None:
            sink, self._sink = self._sink, None
            sink.discard()
        super().close()

    __exit__ = _commit_unless_failed

    @property
    def blob(self) -> StoredBlob:
        """The stored blob (id, plaintext size, SHA-256 of the plaintext), once committed."""
        if self._blob is None:
            raise BlobError("the blob is not stored (not committed, or discarded)")
        return self._blob


class TextBlobWriter(io.TextIOWrapper):
    """A :class:`BlobWriter` as text (from :func:`text_writer`), with the same commit rules."""

    def commit(self) -> StoredBlob:
        """Flush the pending text, then commit the blob."""
        self.flush()
        return self.buffer.commit()

    __exit__ = _commit_unless_failed

    @property
    def blob(self) -> StoredBlob:
        """The stored blob, once committed."""
        return self.buffer.blob


writer = BlobWriter  # ``with storage.writer() as out: out.write(...)``, then ``out.blob``


def text_writer(encoding: str = "utf-8", newline: str | None = "") -> TextBlobWriter:
    """A new streamed blob written as text (``json.dump(obj, out)``, ``csv.writer(out)``);
    ``newline=""`` keeps line endings as written, as the csv module wants."""
    return TextBlobWriter(BlobWriter(), encoding=encoding, newline=newline)


class BlobReader(io.BufferedIOBase):
    """A streamed blob as a binary file (read, read1, readinto, lines; wraps in TextIOWrapper or
    BufferedReader), decrypted a segment at a time; BlobError on tampering, where it is found."""

    def __init__(self, blob_id: str) -> None:
        super().__init__()
        self._file, self._last_seen = None, False
        self._plain, self._pos, self._index = memoryview(b""), 0, 0  # current segment's plaintext
        try:
            self._file = backend().open(_stream_name(blob_id))  # closed by close()
            header = self._file.read(HEADER_BYTES)
            if len(header) < HEADER_BYTES or not header.startswith(STREAM_MAGIC):
                raise BlobError("not a streamed blob")
            if header[len(STREAM_MAGIC)] != STREAM_VERSION:
                raise BlobError("unsupported streamed blob version")
            self._cipher = _stream_cipher(header[len(STREAM_MAGIC) + 1:-_PREFIX_BYTES])
            self._prefix = header[-_PREFIX_BYTES:]
            self._aad = blob_id.encode() + header
            self._next_segment()  # a wrong id, key or header fails now, not on the first read
        except FileNotFoundError:
            raise BlobError("no such blob") from None
        except BaseException:
            self.close()
            raise

    def _next_segment(self) -> bool:
        if self._last_seen:
            return False
        sealed = self._file.read(SEGMENT_BYTES + TAG_BYTES)
        # Last if short, or full with nothing after: the flag in the nonce then proves it.
        last = len(sealed) < SEGMENT_BYTES + TAG_BYTES or not self._file.peek(1)
        try:
            plain = self._cipher.decrypt(_nonce(self._prefix, self._index, last), sealed,
                                         self._aad)
        except InvalidTag:
            raise BlobError("blob failed authentication") from None
        self._plain, self._pos, self._last_seen = memoryview(plain), 0, last
        self._index += 1
        return True

    def _fill(self) -> bool:  # unread plaintext available? False at the (authenticated) end
        if self.closed:
            raise ValueError("read from a closed blob reader")
        while self._pos >= len(self._plain):
            if not self._next_segment():
                return False
        return True

    def _take(self, limit: int) -> memoryview:
        end = len(self._plain) if limit < 0 else min(len(self._plain), self._pos + limit)
        part, self._pos = self._plain[self._pos:end], end
        return part

    def readable(self) -> bool:
        """Always True."""
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (the rest if negative); fewer only at the end."""
        left = -1 if size is None or size < 0 else size
        parts = []
        while left != 0 and self._fill():
            parts.append(self._take(left))
            left -= len(parts[-1]) if left > 0 else 0
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current segment (reads at most one more)."""
        return bytes(self._take(size)) if size != 0 and self._fill() else b""

    def readline(self, size: int | None = -1) -> bytes:
        """One line, ``\\n`` included (at most ``size`` bytes if given); used by iteration."""
        left = -1 if size is None or size < 0 else size
        parts = []
        while left != 0 and self._fill():
            stop = len(self._plain) if left < 0 else min(len(self._plain), self._pos + left)
            newline = self._plain.obj.find(b"\n", self._pos, stop)
            parts.append(self._take((stop if newline < 0 else newline + 1) - self._pos))
            left -= len(parts[-1]) if left > 0 else 0
            if newline >= 0:
                break
        return b"".join(parts)

    def close(self) -> None:
        """Close the file (the reader may be closed before its end)."""
        if self._file is not None:
            self._file.close()
        super().close()


def reader(blob_id: str) -> io.BufferedIOBase:
    """``blob_id`` as a readable binary file: a :class:`BlobReader` for a streamed blob; a
    one-shot blob (small: it was put whole) is decrypted into an ``io.BytesIO``."""
    if backend().has(_name(blob_id)):
        return io.BytesIO(get(blob_id))
    return BlobReader(blob_id)
