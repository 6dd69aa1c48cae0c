"""``python -m dsar`` is the ``dsar`` command."""

from .cli import main

main()
