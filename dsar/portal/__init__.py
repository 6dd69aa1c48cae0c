"""The public portal: explains the rights, takes requests, lets the requester follow them."""

from flask import Blueprint

bp = Blueprint("portal", __name__)

from . import download, intake, status  # noqa: E402,F401  (routes register on bp)
