"""The encrypted blobs of a deployment that keeps them in its database (``STORAGE_URL =
"database:"``, :class:`dsar.core.blob_backends.DatabaseBackend`): each blob cut into rows of at
most a mebibyte of ciphertext, numbered from 0. A plain table, not a mapped class: rows are
written and read by the backend's own connections, never through the ORM session."""

from sqlalchemy import Column, Integer, LargeBinary, String, Table

from dsar.extensions import db

blob_chunks = Table(
    "blob_chunks",
    db.metadata,
    # "<blob id>" or "<blob id>.stream": 40 hex digits and the suffix.
    Column("name", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
