"""The portal's blueprint, on which its view modules register their routes."""

from flask import Blueprint, current_app
from flask_babel import gettext

from dsar.portal.forms import UPLOAD_MESSAGES

bp = Blueprint("portal", __name__)

#: Room kept in the request limit for the text fields and the multipart envelope around the
#: files: files that fill MAX_CONTENT_LENGTH exactly would still make the body too large.
FORM_OVERHEAD_BYTES = 64 * 1024


@bp.app_context_processor
def upload_limits_processor() -> dict:
    """``upload_limits()`` in every template (a staff form with files may use it too): the
    sizes and messages the browser checks chosen files against
    (``dsar/static/upload_limits.js``) before anything is sent."""
    return {"upload_limits": upload_limits}


def upload_limits() -> dict:
    """The per-file and per-request limits in bytes, with their messages in the visitor's
    language (the same per-file message as the server's check); no request limit when
    ``MAX_CONTENT_LENGTH`` is unset."""
    limits = {"file_bytes": current_app.config["MAX_UPLOAD_BYTES"],
              "file_message": str(UPLOAD_MESSAGES["too_large"])}
    total = current_app.config.get("MAX_CONTENT_LENGTH")
    if total:  # None: Flask takes bodies of any size, nothing to check the sum against
        limits["total_bytes"] = max(total - FORM_OVERHEAD_BYTES, 0)
        limits["total_message"] = gettext(
            "Together, the files you chose are larger than %(size)d MB, the most one request "
            "can carry. Please send smaller files (a scan in lower resolution, or a PDF).",
            size=total // (1024 * 1024))
    return limits
