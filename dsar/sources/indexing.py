"""Keeping the ``files`` sources' line indexes up to date outside the searches, so that no
access request pays for indexing a large import or a day of logs (``dsar sources index`` and a
periodic job)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import current_app

from dsar.sources.catalog import get_catalog

logger = logging.getLogger(__name__)


def update_file_indexes(names: Iterable[str] | None = None, *, rebuild: bool = False
                        ) -> dict[str, dict[str, int]]:
    """Update the index of every ``files`` source (or of ``names``); returns counts per
    source. Raises KeyError for a name that is not a ``files`` source."""
    from dsar.sources.files import update_index

    sources = {n: s for n, s in get_catalog().sources.items() if s.kind == "files"}
    wanted = list(names) if names else list(sources)
    for name in wanted:
        if name not in sources:
            raise KeyError(name)
    done = {}
    for name in wanted:
        done[name] = update_index(sources[name], current_app.instance_path, rebuild=rebuild)
        logger.info("index of source %s: %d bytes read", name, done[name]["bytes_read"])
    return done
