"""Celery tasks, the canvas that composes them, and dispatch from the rows."""
from .canvas import revoke
from .dispatch import BROKER_ERRORS, send_bundle

__all__ = ["BROKER_ERRORS", "revoke", "send_bundle"]
