"""How much of a page's title, address and error text is read and kept: a page chooses
their length, and a 5 MB <title> once made a bundle's page 10 MB."""
from ..urls import MAX_URL_LENGTH

TITLE_LIMIT = 500
URL_LIMIT = MAX_URL_LENGTH  # an address may end no longer than one a person may submit
ERROR_LIMIT = 1000
ELLIPSIS = "…"


def clip(text, limit):
    """text, or its first limit - 1 characters and an ellipsis when it is longer than limit."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + ELLIPSIS
