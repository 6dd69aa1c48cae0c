"""``python -m dsar.demo.org.writer SOURCE TARGET PEOPLE SEED``: write one source of the demo
organisation in a process of its own and print its counts as JSON. :func:`~dsar.demo.org.
generate` runs these side by side for big populations (a fresh interpreter each: nothing of
the caller's ``__main__`` or threads is carried over, unlike multiprocessing's spawn or fork).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dsar.demo.org.crm import write_crm
from dsar.demo.org.newsletter import write_newsletter
from dsar.demo.org.platform import write_platform
from dsar.demo.org.support import write_support
from dsar.demo.org.traffic import write_traffic

#: Source -> (writer, output path relative to the target folder, or "" for the folder).
WRITERS = {
    "platform": (write_platform, "platform.sqlite"),
    "traffic": (write_traffic, ""),
    "newsletter": (write_newsletter, "newsletter.sqlite"),
    "crm": (write_crm, "crm.sqlite"),
    "support": (write_support, "support/tickets.csv"),
}


def write(name: str, target: Path, people: int, seed: int) -> dict[str, int]:
    """Write source ``name`` of the organisation in ``target``; returns its counts."""
    writer, relative = WRITERS[name]
    return writer(target / relative if relative else target, people, seed)


def main(argv: list[str]) -> int:
    """The command line: prints ``{"counts": …}`` on success."""
    name, target, people, seed = argv
    counts = write(name, Path(target), int(people), int(seed))
    print(json.dumps({"counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
