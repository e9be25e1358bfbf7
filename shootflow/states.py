"""Where shots and bundles are: the states the rows keep, as plain strings. No database here,
so the command line can name them without loading SQLAlchemy."""
from enum import StrEnum


class ShotState(StrEnum):
    """Where one shot is; the row keeps the value (a plain string)."""
    QUEUED = "queued"        # waiting for a capture process (sent to the broker or not yet)
    RUNNING = "running"      # being captured, or captured and waiting for its thumbnail
    DONE = "done"
    FAILED = "failed"        # the page's own trouble, or every attempt's worker was lost
    CANCELLED = "cancelled"


class BundleState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"            # every shot done
    PARTIAL = "partial"      # some done, some failed
    FAILED = "failed"        # none done
    CANCELLED = "cancelled"


OPEN_SHOT_STATES = frozenset({ShotState.QUEUED, ShotState.RUNNING})
FINAL_SHOT_STATES = frozenset(set(ShotState) - OPEN_SHOT_STATES)
OPEN_BUNDLE_STATES = frozenset({BundleState.QUEUED, BundleState.RUNNING})
FINAL_BUNDLE_STATES = frozenset(set(BundleState) - OPEN_BUNDLE_STATES)


def empty_counts():
    """Shots per state, every state present, none counted yet."""
    return {state.value: 0 for state in ShotState}
