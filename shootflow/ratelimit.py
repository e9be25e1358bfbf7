"""How many URLs one client may send per minute, counted in a moving window on Redis."""
import logging

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


class URLRateLimit:
    """take(client, n) is False once a client has asked for more than per_minute URLs."""

    def __init__(self, storage_uri):
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def take(self, client, count, per_minute):
        if per_minute <= 0:
            return True
        try:
            return self.limiter.hit(RateLimitItemPerMinute(per_minute), "urls", client,
                                    cost=count)
        except Exception as exc:  # the store is down: submitting fails on its own then
            log.warning("rate limit store unavailable (%s); not limiting", exc)
            return True
