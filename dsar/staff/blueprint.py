"""The back office's blueprint, on which its view modules register their routes."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")
