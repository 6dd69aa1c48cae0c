"""The portal's blueprint, on which its view modules register their routes."""

from flask import Blueprint

bp = Blueprint("portal", __name__)
