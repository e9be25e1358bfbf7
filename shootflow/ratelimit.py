"""Moving-window limits on Redis: URLs per client a minute, and failed sign-ins."""
import logging
import math
import time

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


def storage_uri(config):
    """Where the limits count: a Redis every web process shares, the broker's or else the
    result store's (with RabbitMQ as the broker, results are in Redis); else this process's
    memory."""
    for url in (config["BROKER_URL"], config["RESULT_BACKEND"]):
        if url.startswith(("redis://", "rediss://")):
            return url
    return "memory://"


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


class LoginThrottle:
    """Failed sign-ins counted per username and per client address over window seconds.

    Asked before any password is hashed, so a guesser over the limit costs the server no
    hash; unknown names count like known ones, so the limit tells nothing about names."""

    def __init__(self, storage_uri, per_user, per_address, window):
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.limits = [(RateLimitItemPerSecond(tries, window), kind)
                       for tries, kind in ((per_user, "user"), (per_address, "address"))
                       if tries > 0]

    def _counters(self, username, address):
        # Usernames are at most 64 characters; a longer one is wrong anyway, and is cut so
        # that a guesser cannot make the store keep megabytes per try.
        values = {"user": username[:65], "address": address or "unknown"}
        return [(item, f"login-{kind}", values[kind]) for item, kind in self.limits]

    def retry_after(self, username, address):
        """Whole seconds until this name and address may try again; 0 when they may now."""
        waits = []
        try:
            for item, kind, key in self._counters(username, address):
                if not self.limiter.test(item, kind, key):
                    reset = self.limiter.get_window_stats(item, kind, key).reset_time
                    waits.append(reset - time.time())
        except Exception as exc:  # the store is down: sign-in still works, unthrottled
            log.warning("login throttle store unavailable (%s); not limiting", exc)
            return 0
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, username, address):
        """Count one failed sign-in against the name and the address."""
        try:
            for item, kind, key in self._counters(username, address):
                self.limiter.hit(item, kind, key)
        except Exception as exc:
            log.warning("login throttle store unavailable (%s); not counting", exc)
