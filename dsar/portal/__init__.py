"""The public portal: explains the rights, takes requests, lets the requester follow them.
Views only: they parse the request, call a service and render."""

from dsar.portal import download, intake, status  # noqa: F401  (routes register on bp)
from dsar.portal.blueprint import bp

__all__ = ["bp"]
