"""Which client a log-in attempt came from, for django-axes' lock-out (see settings: the log-in guard)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR; behind one trusted proxy (TRUST_X_FORWARDED_FOR), the last X-Forwarded-For address.

    The last address is the one that proxy appended; any earlier ones are whatever the client sent and would
    let a guesser present a fresh address on every try. A malformed header falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.TRUST_X_FORWARDED_FOR:
        return remote
    appended = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(appended))
    except ValueError:
        return remote
