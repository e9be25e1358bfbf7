"""The JSON API's requests and answers as marshmallow schemas. A view loads its request with
them (openapi.takes), and the OpenAPI document (web/openapi.py) is generated from the same
schemas read off the same views, so what is documented is what is checked.

A schema checks the shape of a request: that the body is an object, which fields it has,
their JSON types, and the query parameters. A rule about a value belongs to its owner and is
called, never copied: capture options to capture.options.read_options (the CaptureOptions
schema calls it), URLs and where they lead to urls.py through the services, schedules and the
other watch values to services.watch_values. Such a field is `Owned`: the document says what
it takes, and the owner refuses what it cannot use, in its own words and naming the field."""
from datetime import datetime, timezone

from marshmallow import (EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load,
                         validate, validates_schema)

from ..capture import options as capture
from ..history import CursorError, decode_cursor
from ..models import BundleState, ShotState

MAX_WAIT_SECONDS = 60
MAX_BUNDLES_PER_PAGE = 200
MAX_SHOTS_PER_PAGE = 1000


class Owned(fields.Raw):
    """A value whose rules belong to its owner (see the module's docstring); spec is its JSON
    Schema for the document, where a Schema class stands for a reference to it."""

    def __init__(self, description, required=False, **spec):
        super().__init__(required=required, allow_none=True,
                         metadata={"description": description})
        self.spec = spec

    def _validate_missing(self, value):
        """Whether the value may be missing or null is the owner's rule too (required is
        what the document says): no refusal here in other words than the owner's."""


class UtcTime(fields.DateTime):
    """An ISO 8601 time, as naive UTC (as the rows keep times); without a zone it is UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:  # year 1 at +14:00 is before the first UTC day
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        except (TypeError, ValueError, OverflowError):
            raise self.make_error("invalid") from None
        return moment


class Cursor(fields.String):
    """A next_cursor given by an earlier page, checked by history.decode_cursor."""

    def __init__(self, *types):
        super().__init__(metadata={"description": "The `next_cursor` of the page before, "
                                                  "unchanged; none for the first page."})
        self.types = types

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decode_cursor(text, *self.types)
        except CursorError as exc:
            raise ValidationError(str(exc)) from None
        return text


def _whole(name, low, high, default, what=""):
    message = f"{name} must be a whole number{what} from {low} to {high}."
    return fields.Integer(load_default=default, validate=validate.Range(low, high, error=message),
                          error_messages={"invalid": message},
                          metadata={"description": f"A whole number{what}, {low} to {high}; "
                                                   f"default {default}."})


# Requests ----------------------------------------------------------------------------------

class Cookie(Schema):
    name = fields.String(required=True)
    value = fields.String(required=True)
    domain = fields.String()
    path = fields.String()


def _number(description, low, high, whole=False, **spec):
    return Owned(description, type="integer" if whole else "number", minimum=low, maximum=high,
                 **spec)


def _flag(description):
    return Owned(description, type="boolean", default=False)


class CaptureOptions(Schema):
    """How a page is captured; every key is optional and a missing one takes its default."""

    viewport = Owned(
        '"WIDTHxHEIGHT" (%d–%d × %d–%d) or a preset (%s); a list of up to %d gives one shot per '
        "URL and viewport (bundles only)." % (capture.MIN_WIDTH, capture.MAX_WIDTH,
                                             capture.MIN_HEIGHT, capture.MAX_HEIGHT,
                                             ", ".join(capture.PRESETS), capture.MAX_VIEWPORTS),
        oneOf=[{"type": "string", "example": "1280x800"},
               {"type": "array", "items": {"type": "string"}, "minItems": 1,
                "maxItems": capture.MAX_VIEWPORTS}])
    full_page = _flag("Scroll through the page, then capture its whole height.")
    max_height = _number("CSS pixels a full page is cut at.", capture.MIN_HEIGHT,
                         capture.MAX_FULL_HEIGHT, whole=True, default=capture.DEFAULT_MAX_HEIGHT)
    scale = _number("Device pixels per CSS pixel; the viewport's own by default.", 1, 3)
    format = Owned("The image's format.", type="string", enum=list(capture.FORMATS),
                   default="png")
    quality = _number('For "format" jpeg or webp only.', 1, 100, whole=True,
                      default=capture.DEFAULT_QUALITY)
    wait_until = Owned("load, or networkidle: no request open for 500 ms.", type="string",
                       enum=list(capture.WAIT_UNTIL), default="load")
    wait_for = Owned("A CSS selector that must appear.", type="string",
                     maxLength=capture.MAX_SELECTOR_LENGTH)
    delay = _number("Extra seconds to wait.", 0, 30, default=0)
    timeout = _number("Seconds for the page to load and be ready.", 1, 120, whole=True)
    selector = Owned("Capture only the first element matching this CSS selector.",
                     type="string", maxLength=capture.MAX_SELECTOR_LENGTH)
    hide = Owned("CSS selectors to hide before the capture.",
                 oneOf=[{"type": "string"},
                        {"type": "array", "items": {"type": "string"},
                         "maxItems": capture.MAX_SELECTORS}])
    hide_banners = _flag("Answer cookie and consent banners with reject; hide what is left.")
    block_ads = _flag("Block ads and trackers.")
    dark_mode = _flag("Emulate prefers-color-scheme: dark.")
    reduced_motion = _flag("Emulate prefers-reduced-motion: reduce.")
    user_agent = Owned("The User-Agent to send.", type="string", maxLength=1000)
    headers = Owned("Request headers (not Host, Content-Length and the like).", type="object",
                    additionalProperties={"type": "string"}, maxProperties=capture.MAX_HEADERS)
    cookies = Owned("Cookies to send.", type="array", items=Cookie,
                    maxItems=capture.MAX_COOKIES)
    javascript = Owned("A script run in the page before the capture.", type="string",
                       maxLength=capture.MAX_SCRIPT)

    @pre_load
    def read(self, data, **_kwargs):
        """read_options, the owner of every option's rule, checks and normalises them."""
        try:
            return capture.read_options(data)
        except capture.OptionError as exc:
            raise ValidationError(str(exc), field_name="_schema" if exc.name == "options"
                                  else exc.name) from None


def _options():
    return fields.Nested(CaptureOptions, allow_none=True)


class UrlWithOptions(Schema):
    """One URL with options of its own, laid over the bundle's key by key."""
    url = fields.String(required=True)
    options = _options()


# marshmallow formats its messages: {{ }} are braces.
URLS_MESSAGE = '"urls" must be a list of URL strings (or {{"url", "options"}} objects).'


class BundleCreate(Schema):
    urls = fields.List(
        Owned("A URL (a bare host means https://), or a URL with its own options.",
              oneOf=[{"type": "string", "example": "https://example.com"}, UrlWithOptions]),
        required=True, metadata={"description": "Blank lines are skipped, duplicates taken "
                                                "once."},
        error_messages={key: URLS_MESSAGE for key in ("required", "null", "invalid")})
    options = _options()
    webhook_url = Owned("Told (POST, signed) when the bundle finishes.", type="string",
                        format="uri", nullable=True)

    class Meta:
        unknown = EXCLUDE
        example = {"urls": ["https://example.com"]}


ONE_VIEWPORT = ('Option "viewport" takes one viewport here: send several to '
                "POST /api/v1/bundles, which makes one shot for each.")


class ShotCreate(Schema):
    url = fields.String(required=True, error_messages={
        key: 'Send a JSON object like {{"url": "https://example.com"}}.'
        for key in ("required", "null", "invalid")})
    options = _options()

    class Meta:
        unknown = EXCLUDE
        example = {"url": "https://example.com"}

    @validates_schema
    def one_viewport(self, data, **_kwargs):
        if isinstance((data.get("options") or {}).get("viewport"), list):
            raise ValidationError(ONE_VIEWPORT, field_name="options.viewport")


class ShotWait(Schema):
    wait = _whole("wait", 0, MAX_WAIT_SECONDS, 30, " of seconds")


class Rectangle(Schema):
    """A region of the picture, in whole pixels (width and height above 0)."""
    x = fields.Integer(required=True)
    y = fields.Integer(required=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)


def _watch_url(required=False):
    return Owned("The page to capture.", required=required, type="string", format="uri")


def _schedule(required=False):
    return Owned('A five-field cron expression ("*/15 * * * *"), @hourly, @daily, @weekly or '
                 '"every N minutes|hours|days".', required=required, type="string",
                 example="every 15 minutes")


class WatchPatch(Schema):
    """Any of a watch's fields; services.watch_values checks their values."""
    url = _watch_url()
    schedule = _schedule()
    timezone = Owned("The IANA time zone the schedule is read in.", type="string",
                     default="UTC")
    options = _options()
    threshold = Owned("The share of pixels that must change for a capture to count as "
                      "changed.", type="number", minimum=0, maximum=1, default=0.01)
    ignore = Owned("CSS selectors and rectangles (picture pixels) left out of comparisons.",
                   type="array", maxItems=50, nullable=True,
                   items={"oneOf": [{"type": "string"}, Rectangle]})
    webhook_url = Owned("Told (POST, signed) when a capture changes past the threshold.",
                        type="string", format="uri", nullable=True)

    class Meta:
        unknown = RAISE
        noun = "a watch"
        example = {"schedule": "every 15 minutes"}


class WatchCreate(WatchPatch):
    url = _watch_url(required=True)
    schedule = _schedule(required=True)

    class Meta(WatchPatch.Meta):
        example = {"url": "https://example.com", "schedule": "every 15 minutes"}


class WatchFromShots(WatchPatch):
    """A watch's fields but its URL, which comes from each shot."""
    schedule = _schedule(required=True)

    class Meta(WatchPatch.Meta):
        exclude = ("url",)
        noun = "watches made from captures (their URLs come from the shots)"


class BundleQuery(Schema):
    state = fields.String(validate=validate.OneOf(
        [state.value for state in BundleState],
        error="state must be one of {choices}."), metadata={"description": "Only bundles in "
                                                                        "this state."})
    q = fields.String(validate=[validate.Length(max=2000, error="q must be at most 2,000 "
                                                                "characters."),
                                validate.Regexp(r"^[^\x00]*$", error="q must not contain NUL "
                                                                     "characters.")],
                      metadata={"description": "Only bundles with a shot whose URL or title "
                                               "contains this (any case)."})
    cursor = Cursor(datetime, str)
    limit = _whole("limit", 1, MAX_BUNDLES_PER_PAGE, 50)


class ShotQuery(Schema):
    cursor = Cursor(int)
    limit = _whole("limit", 1, MAX_SHOTS_PER_PAGE, 100)
    since = UtcTime(error_messages={"invalid": "since must be an ISO 8601 time such as "
                                               "2026-01-31T12:00:00Z."},
                    metadata={"description": "Only shots changed at or after this time "
                                             "(UTC unless it says otherwise)."})


class WatchQuery(Schema):
    page = _whole("page", 1, 1_000_000, 1)


class WatchDeleteQuery(Schema):
    files = fields.String(metadata={"description": "1: delete the runs' images too."})


# Answers -----------------------------------------------------------------------------------

CODES = ("invalid_json", "invalid_url", "no_urls", "too_many_urls", "invalid_value",
         "not_found", "rate_limited", "queue_unavailable", "conflict", "unauthorized",
         "forbidden", "method_not_allowed", "too_large", "server_error", "bad_request")


class Error(Schema):
    error = fields.String(required=True, metadata={"description": "What went wrong, and what "
                                                                  "to do, for a person."})
    code = fields.String(required=True, validate=validate.OneOf(CODES),
                         metadata={"description": "A stable word for scripts."})
    field = fields.String(metadata={"description": "The request field at fault, such as urls, "
                                                   "options.viewport or schedule."})


# Shots per state, every state present.
Counts = Schema.from_dict({state.value: fields.Integer(required=True) for state in ShotState},
                          name="Counts")


def _time(description=None, **kwargs):
    return fields.DateTime(metadata={"description": description} if description else {},
                           **kwargs)


def _maybe(field_class, *args, **kwargs):
    return field_class(*args, required=True, allow_none=True, **kwargs)


class Shot(Schema):
    id = fields.String(required=True)
    bundle_id = fields.String(required=True)
    url = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf([s.value for s in ShotState]))
    title = _maybe(fields.String)
    final_url = _maybe(fields.String)
    http_status = _maybe(fields.Integer)
    error = _maybe(fields.String)
    error_kind = _maybe(fields.String)
    image_url = _maybe(fields.String)
    thumbnail_url = _maybe(fields.String)
    options = fields.Dict(required=True, metadata={"description": "Every option as used."})
    format = _maybe(fields.String)
    width = _maybe(fields.Integer)
    height = _maybe(fields.Integer)
    truncated = _maybe(fields.Boolean)
    blank = fields.Boolean(required=True)
    bytes = _maybe(fields.Integer)
    sha256 = _maybe(fields.String)
    redirects = fields.List(fields.String(), required=True)
    response_headers = fields.Dict(required=True)
    console_errors = fields.List(fields.Raw(), required=True)
    attempts = fields.Integer(required=True)
    failed_attempts = fields.List(fields.Dict(), required=True)
    timings = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class BundleStatus(Schema):
    id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf([s.value for s in BundleState]))
    total = fields.Integer(required=True)
    counts = fields.Nested(Counts, required=True)
    created_at = _time(required=True)
    finished_at = _time(required=True, allow_none=True)


class Bundle(BundleStatus):
    shots = fields.List(fields.Nested(Shot), required=True)

    class Meta:
        exclude = ("total",)


class BundleCreated(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The bundle in this API."})
    page_url = fields.String(required=True, metadata={
        "description": "The bundle's page, filling in live, for a person."})
    webhook_secret = fields.String(metadata={"description": "Only with a webhook_url: the key "
                                                            "of its signature, shown once."})


class BundleSummary(BundleStatus):
    urls_preview = fields.List(fields.String(), required=True)
    title = _maybe(fields.String, metadata={"description": "The first shot's title."})


class BundlePage(Schema):
    bundles = fields.List(fields.Nested(BundleSummary), required=True)
    next_cursor = _maybe(fields.String)


class ShotPage(Schema):
    shots = fields.List(fields.Nested(Shot), required=True)
    next_cursor = _maybe(fields.String)


class Capture(Schema):
    shot_id = _maybe(fields.String)
    captured_at = _time(required=True, allow_none=True)
    state = _maybe(fields.String)
    change = _maybe(fields.Float)
    changed = _maybe(fields.Boolean)
    image_url = _maybe(fields.String)
    thumbnail_url = _maybe(fields.String)
    diff_url = _maybe(fields.String)


class Delivery(Schema):
    event = fields.String(required=True)
    state = fields.String(required=True)
    attempts = fields.Integer(required=True)
    status = _maybe(fields.Integer)
    error = _maybe(fields.String)
    created_at = _time(required=True)
    delivered_at = _time(required=True, allow_none=True)


class Watch(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    schedule = fields.String(required=True)
    schedule_words = fields.String(required=True)
    timezone = fields.String(required=True)
    options = fields.Dict(required=True)
    threshold = fields.Float(required=True)
    ignore = fields.List(fields.Raw(), required=True)
    webhook_url = _maybe(fields.String)
    paused = fields.Boolean(required=True)
    last_run_at = _time(required=True, allow_none=True)
    next_run_at = _time(required=True, allow_none=True)
    secret = fields.String(metadata={"description": "Only when the watch is made: the key of "
                                                    "its webhook's signature."})
    deliveries = fields.List(fields.Nested(Delivery),
                             metadata={"description": "Only for one watch: its webhook calls."})
    captures = fields.List(fields.Nested(Capture),
                           metadata={"description": "Only for one watch: its captures, newest "
                                                    "first."})


class WatchPage(Schema):
    watches = fields.List(fields.Nested(Watch), required=True)
    page = fields.Integer(required=True)
    next_page = _maybe(fields.Integer)


class WatchesMade(Schema):
    watches = fields.List(fields.Nested(Watch), required=True)


class RunStarted(Schema):
    bundle_id = fields.String(required=True)
    url = fields.String(required=True)
