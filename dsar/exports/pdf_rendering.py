"""WeasyPrint as every PDF of dsar uses it (the answer's report, the letters, the certificate,
the acknowledgement of receipt): tagged PDF/UA-1, the report's stylesheet parsed once, one font
configuration per process, one rendering at a time, and nothing fetched: every URL goes to
:class:`RefusingFetcher`, which serves nothing and stops the rendering."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Mapping
from functools import cache
from typing import IO, Any

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

from dsar.paths import STATIC_DIR

logger = logging.getLogger(__name__)

STYLESHEET = STATIC_DIR / "report.css"
#: PDF/UA-1: tagged structure, document language and title, fonts embedded.
PDF_VARIANT = "pdf/ua-1"


class ReportError(Exception):
    """The report could not be rendered (names no person)."""


class FetchRefused(FatalURLFetchingError):
    """WeasyPrint asked for a URL while rendering a report: refused, and the rendering
    stops (a report needs nothing from outside; a request means markup got in)."""


class RefusingFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves nothing: ``file:``, ``http(s):``, ``data:``, any
    scheme is refused. The URLs asked for are kept in :attr:`refused` (never logged: a URL
    could carry a record's value)."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=(), fail_on_errors=True)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Mapping[str, str] | None = None):
        """Refuse ``url``: raises :class:`FetchRefused`."""
        self.refused.append(url)
        # Only a known scheme is named: the URL, or even an odd scheme, could be a value.
        scheme = url.split(":", 1)[0].lower()
        scheme = scheme if scheme in ("file", "http", "https", "data", "ftp") else "other"
        logger.warning("report rendering asked for a %s: URL; refused", scheme)
        raise FetchRefused(f"the report fetches nothing ({scheme}: URL refused)")


@cache
def stylesheet_text() -> str:
    """The report's stylesheet (``dsar/static/report.css``), read once."""
    return STYLESHEET.read_text(encoding="utf-8")


#: PDFs rendered by this process share one font configuration and one parsed stylesheet:
#: a new font configuration loads Fontconfig's and starts a new Pango font map with cold
#: caches (25-30 ms of CPU per report, as much as the rest of the package), and the same
#: stylesheet was parsed again for each report. Pango's font map is not thread-safe: one
#: rendering at a time.
_RENDERING = threading.Lock()


@cache
def font_config() -> FontConfiguration:
    """The process's one font configuration (for stylesheets parsed beside the report's)."""
    return FontConfiguration()


@cache
def _stylesheet() -> CSS:
    # Parsing fetches nothing (report.css has no url() nor @import); a fetch would be refused.
    return CSS(string=stylesheet_text(), url_fetcher=RefusingFetcher(),
               font_config=font_config())


def render_pdf(html: str, target: IO[bytes], *stylesheets: CSS,
               fetcher: RefusingFetcher | None = None, attachments: list | None = None):
    """Lay out ``html`` with the report's stylesheet then ``stylesheets`` and write the PDF to
    ``target``; returns the laid-out document (its pages). Raises :class:`ReportError` if the
    rendering asked for any URL (``fetcher`` keeps what was asked)."""
    try:
        with _RENDERING:
            document = HTML(string=html, url_fetcher=fetcher or RefusingFetcher()).render(
                stylesheets=[_stylesheet(), *stylesheets], font_config=font_config(),
                pdf_variant=PDF_VARIANT)
            document.write_pdf(target, pdf_variant=PDF_VARIANT, attachments=attachments or [])
    except FetchRefused as error:
        # A BaseException for WeasyPrint's sake (its own handlers would swallow an Exception);
        # an ordinary error for the caller.
        raise ReportError(str(error)) from error
    return document


def render_letter(html: str, *stylesheets: CSS) -> tuple[bytes, Any]:
    """A short letter (the answer letters, the acknowledgement of receipt, the certificate) as
    a tagged PDF in memory: its bytes and the laid-out document."""
    out = io.BytesIO()
    document = render_pdf(html, out, *stylesheets)
    return out.getvalue(), document
