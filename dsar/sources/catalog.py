"""The deployment's sources and records of processing, read once at start-up.

``init_app`` reads ``SOURCES_FILE`` and ``REGISTER_FILE`` (default: ``instance/sources.toml``
and ``instance/register.toml``) and checks them against each other; a fault raises
:class:`SourceConfigError`, which stops the app and ``dsar init`` with a message naming the file,
the key and the fault. Connector classes are named by dotted path so that a kind's library is
imported only by the processes that use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from werkzeug.utils import import_string

from dsar.sources.base import Connector, SourceConfig, SourceConfigError
from dsar.sources.config import load_sources
from dsar.sources.register import Register, load_register

#: Connector kind -> class, by dotted path.
KINDS = {
    "sql": "dsar.sources.sql:SqlConnector",
    "http": "dsar.sources.http:HttpConnector",
    "files": "dsar.sources.files:FilesConnector",
}

#: The category of a field ``sources.toml`` does not name (always allowed).
UNCLASSIFIED = "unclassified"


class _ConnectorClasses(Mapping):
    """Kind -> connector class, imported on first use (a deployment without HTTP sources never
    imports the HTTP client)."""

    def __getitem__(self, kind: str) -> type[Connector]:
        return import_string(KINDS[kind])

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


def connector_classes() -> Mapping[str, type[Connector]]:
    """Every connector kind's class, imported when first asked for."""
    return _ConnectorClasses()


@dataclass(frozen=True)
class Catalog:
    """What can be searched, and why it is held."""

    sources: dict[str, SourceConfig] = field(default_factory=dict)
    register: Register = field(default_factory=Register)

    def connector(self, name: str) -> Connector:
        """A new connector for source ``name`` (use it in a ``with`` block)."""
        source = self.sources[name]
        cls = import_string(KINDS[source.kind])
        return cls(source, instance_path=current_app.instance_path)

    def supports(self, source_name: str, collection_name: str, action: str) -> bool:
        """Whether the connector of source ``source_name`` can do ``action`` (``update``,
        ``restrict``…) on that collection, from the configuration alone (no connection).
        False for a source or collection the files do not declare."""
        source = self.sources.get(source_name)
        collection = source.collections.get(collection_name) if source else None
        if collection is None:
            return False
        return connector_classes()[source.kind].supports(source, collection, action)


def load_catalog(sources_file: Path, register_file: Path, instance_path: str) -> Catalog:
    """Read and cross-check both files."""
    sources = load_sources(sources_file, connector_classes(), instance_path)
    register = load_register(register_file, sources.keys() if sources else None)
    for source in sources.values():
        for collection in source.collections.values():
            for field_name, category in collection.fields.items():
                if category != UNCLASSIFIED and category not in register.categories:
                    raise SourceConfigError(
                        source.file, f"{collection.where}.fields.{field_name}",
                        f"unknown category {category!r} (declare it in {register_file} "
                        "[categories])")
    return Catalog(sources=sources, register=register)


def init_app(app: Flask) -> None:
    """Load the catalog into ``app`` (raises :class:`SourceConfigError` on a bad file)."""
    instance = Path(app.instance_path)
    sources_file = Path(app.config.get("SOURCES_FILE") or instance / "sources.toml")
    register_file = Path(app.config.get("REGISTER_FILE") or instance / "register.toml")
    app.extensions["dsar_catalog"] = load_catalog(sources_file, register_file,
                                                  str(instance))


def get_catalog() -> Catalog:
    """The current app's catalog."""
    return current_app.extensions["dsar_catalog"]
