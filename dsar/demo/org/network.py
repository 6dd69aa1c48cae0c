"""Where the demo population connects from: home, office and mobile IP addresses, browsers.

IP addresses are data, never identifiers: colleagues come out of their employer's one NAT
address, learners at the Lyon training centre share its Wi-Fi, mobile carriers put thousands
of phones behind a few addresses, and a home address changes now and then.
"""

from __future__ import annotations

import hashlib

from dsar.demo.org.showcase import CLINIC_IP, TRAINING_CENTRE_IP

__all__ = ["BOTS", "OFFICE_IPS", "TRAINING_CENTRE_IP", "USER_AGENTS", "home_ip", "mobile_ip"]

# (first octet, second octets): blocks of French access providers' home lines.
_HOME_BLOCKS = ((90, range(0, 128)), (86, range(192, 256)), (92, range(128, 192)),
                (78, range(192, 256)), (82, range(64, 68)), (176, range(128, 192)),
                (109, range(0, 32)), (88, range(160, 192)), (83, range(192, 208)))
# Mobile carriers' carrier-grade NAT: a few addresses for very many phones.
_MOBILE_POOLS = ((92, 184), (37, 165), (80, 215), (176, 145))

#: Employer index -> its office NAT address (employer 0 is the showcase clinic).
OFFICE_IPS = tuple([CLINIC_IP] + [f"198.51.100.{20 + 7 * k}" for k in range(1, 16)])

#: (user agent, device, browser)
USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36", "desktop", "Chrome"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
     "desktop", "Firefox"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", "desktop", "Edge"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/18.1 Safari/605.1.15", "desktop", "Safari"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "mobile", "Safari"),
    ("Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Mobile Safari/537.36", "mobile", "Chrome"),
    ("Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/129.0.0.0 Mobile Safari/537.36", "mobile", "Chrome"),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.6 Mobile/15E148 Safari/604.1", "tablet", "Safari"),
)
BOTS = (
    ("66.249.66.{}", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("40.77.167.{}", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    ("5.255.231.{}", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"),
)


def _number(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def home_ip(i: int, seed: int, period: int) -> str:
    """Person ``i``'s home address during ``period`` (providers reassign them now and then)."""
    n = _number("home", seed, i, period)
    first, seconds = _HOME_BLOCKS[n % len(_HOME_BLOCKS)]
    n //= len(_HOME_BLOCKS)
    return f"{first}.{seconds[n % len(seconds)]}.{(n >> 8) % 256}.{1 + (n >> 16) % 254}"


def mobile_ip(draw: int) -> str:
    """An address of a mobile carrier's NAT (shared by many subscribers at once)."""
    first, second = _MOBILE_POOLS[draw % len(_MOBILE_POOLS)]
    return f"{first}.{second}.{(draw >> 4) % 8}.{1 + (draw >> 8) % 60}"
