"""The capture workers of `bench.controlplane`: the product's Celery app, in which each
process's browser is a stand-in that waits a set delay and returns a prepared PNG.

Bench only. Nothing in shootflow/ can switch it on: a worker runs it only when started as
`celery -A bench.standin:celery_app worker …`. Everything around the engine is the product's
own: the `shots.capture` task claims the row, watches for cancels, writes the picture into
the media folder, commits and settles, and the chain sends `shots.process` to the images lane.

    BENCH_STANDIN_DELAY_MS=200 celery -A bench.standin:celery_app worker -Q capture,capture.bulk
"""
import io
import logging
import os
import random
import time

from shootflow.capture import CaptureResult
from shootflow.workflows import browsers

# The product's app, built as the Procfile's workers build it.
from wsgi import celery_app

log = logging.getLogger(__name__)
DELAY_MS = int(os.environ.get("BENCH_STANDIN_DELAY_MS", "200"))
SIZE = (1280, 800)
# The product's PNG of a corpus page at the default viewport: 227 kB (p50, bench/README.md,
# "Anatomy of a capture").
TARGET_BYTES = 227_000


def prepared_png(size=SIZE, target=TARGET_BYTES):
    """PNG bytes of a made-up page (a header, lines of "words", photos) about `target`
    bytes long; the same bytes in every process, so every capture writes the same file."""
    from PIL import Image, ImageDraw

    rng = random.Random(15)
    width, height = size
    page = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, width, 64), fill=(32, 64, 128))
    for y in range(96, height - 16, 22):  # text: dark runs of "words" on white
        x = 40 if y < 360 else 700
        while x < (660 if y < 360 else width - 40):
            word = rng.randint(18, 70)
            draw.rectangle((x, y, x + word, y + 11), fill=(rng.randint(20, 70),) * 3)
            x += word + 8
    # Photos: noise over a gradient, the part that makes a screenshot's PNG heavy. Their
    # size is chosen so that the file comes out at about `target` bytes.
    low, high = 40, 600
    while high - low > 8:
        side = (low + high) // 2
        data = _with_photo(page, side, rng.getstate())
        low, high = (side, high) if len(data) < target else (low, side)
    return _with_photo(page, low, rng.getstate())


def _with_photo(page, side, state):
    from PIL import Image

    rng = random.Random()
    rng.setstate(state)
    picture = page.copy()
    photo_height = min(side, 400)
    photo_width = max(8, side * side // photo_height)
    gradient = Image.linear_gradient("L").resize((photo_width, photo_height))
    noise = Image.frombytes("L", (photo_width, photo_height),
                            rng.randbytes(photo_width * photo_height)).point(lambda v: v // 3 + 80)
    photo = Image.merge("RGB", (gradient, noise, Image.blend(gradient, noise, 0.5)))
    picture.paste(photo, (40, 380))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


class StandInSession:
    """What `shots.capture` asks of the per-process BrowserSession (capture, kill, close,
    shutdown), answered without a browser: a real CaptureResult after `delay_ms`."""

    def __init__(self, delay_ms=DELAY_MS, image=None):
        self.delay = delay_ms / 1000
        self.image = image if image is not None else prepared_png()
        self.captures = 0

    def capture(self, url, isolation=None, options=None):
        started = time.monotonic()
        time.sleep(self.delay)
        self.captures += 1
        elapsed = round((time.monotonic() - started) * 1000)
        return CaptureResult(
            self.image, f"Stand-in page {url.rsplit('/', 1)[-1]}", url, 200, elapsed,
            format="png", width=SIZE[0], height=SIZE[1], redirects=(url,),
            response_headers=(("content-type", "text/html; charset=utf-8"),),
            timings={"navigation": elapsed, "ready": 0, "capture": 0, "encode": 0},
            options=options.to_json() if options is not None else None)

    def kill(self):
        """Nothing to kill: a stand-in capture ends by itself within the delay."""

    def close(self):
        pass

    def shutdown(self):
        pass


# browser_session() builds a BrowserSession only while this is None; set before the pool
# forks (or its threads start), every pool process captures with the stand-in.
browsers._session = StandInSession()
with celery_app.flask_app.app_context():
    # Should browser_session() ever stop handing out this global, fail here rather than
    # start a Chromium per process and measure that instead.
    if browsers.browser_session() is not browsers._session:
        raise RuntimeError("shootflow.workflows.browsers.browser_session() no longer returns "
                           "the per-process session; bench/standin.py must follow it")
log.warning("stand-in engine: every capture returns a prepared %d×%d PNG of %d bytes after "
            "%d ms; no browser is started", *SIZE, len(browsers._session.image), DELAY_MS)
