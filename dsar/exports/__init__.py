"""The answer to a request, as files: ``export.json`` (:mod:`.json_export`), one CSV per
collection (:mod:`.csv_export`) and the ZIP package with its manifest (:mod:`.package`), all
written from one data model (:mod:`.content`).

Usage, inside an app context::

    from dsar.exports.content import build_content
    from dsar.exports.package import write_package

    content = build_content(case)
    with open(path, "wb") as out:
        manifest = write_package(content, out)

The JSON Schema of ``export.json`` ships in the package (``schema/export.schema.json``);
docs/export-schema.md publishes and explains it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

#: The schema's file name, in this package and in every ZIP.
SCHEMA_NAME = "export.schema.json"


@cache
def schema_bytes() -> bytes:
    """The JSON Schema (draft 2020-12) of ``export.json``, as shipped."""
    return resources.files(__name__).joinpath("schema", SCHEMA_NAME).read_bytes()


def load_schema() -> dict[str, Any]:
    """The JSON Schema of ``export.json``, parsed."""
    return json.loads(schema_bytes())
