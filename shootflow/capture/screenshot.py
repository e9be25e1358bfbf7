"""Taking the picture: the viewport, the whole page, or one element, as PNG, JPEG, WebP or
PDF. Chromium encodes what fits in one capture; a page taller than that is captured in
slices and put together with Pillow."""
import base64
import io
import time
from dataclasses import dataclass, replace

from PIL import Image

from .errors import PageError

# The tallest slice asked of Chromium at once, in device pixels: its texture limit. Taller
# pictures are captured in slices and put together.
SLICE_PIXELS = 16384
# The most pixels a picture may have (images.MAX_PIXELS, which the thumbnail step decodes,
# is a little above).
MAX_PIXELS = 100_000_000
SCROLL_PAUSE_MS = 20
IMAGES_WAIT_MS = 3000
# Scrolls through the page a viewport at a time, a frame or so at each stop, so that lazy
# content starts loading, up to a height (the page may grow as content arrives) or a time;
# then waits (bounded) for the images that started loading, goes back to the top and
# returns the page's final height.
SCROLL_THROUGH = """
const [limit, pauseMs, budgetMs, imagesMs, done] = arguments;
const started = Date.now();
const height = () => Math.max(document.documentElement.scrollHeight,
                              document.body ? document.body.scrollHeight : 0);
const finish = () => {
  window.scrollTo(0, 0);
  requestAnimationFrame(() => setTimeout(() => done(height()), pauseMs));
};
const images = () => {
  const waitUntil = Math.min(Date.now() + imagesMs, started + budgetMs);
  const check = () => {
    const loading = Array.from(document.images).some((image) => !image.complete);
    if (!loading || Date.now() > waitUntil) finish(); else setTimeout(check, 50);
  };
  check();
};
let y = 0;
const step = () => {
  if (y >= Math.min(height(), limit) || Date.now() - started > budgetMs) return images();
  y += Math.max(window.innerHeight, 200);
  window.scrollTo(0, y);
  setTimeout(step, pauseMs);
};
step();
"""
ELEMENT_BOX = """
const element = document.querySelector(arguments[0]);
if (!element) return null;
const box = element.getBoundingClientRect();
return [box.left + window.scrollX, box.top + window.scrollY, box.width, box.height];
"""


@dataclass(frozen=True)
class Picture:
    data: bytes
    width: int       # pixels of the image (for a PDF: its page, in CSS pixels)
    height: int
    truncated: bool = False
    capture_ms: int = 0
    encode_ms: int = 0
    scroll_ms: int = 0  # scrolling through a full page first (part of getting it ready)


def _mime_format(options):
    return {"format": options.format, **({"quality": options.image_quality}
                                         if options.format in ("jpeg", "webp") else {})}


def take(driver, options, deadline):
    """The picture options ask for, of the page on show."""
    if options.format == "pdf":
        return _pdf(driver, options, deadline)
    cdp = driver.execute_cdp_cmd
    if options.selector:
        return _clip(cdp, options, _element_box(driver, options.selector), False)
    if options.full_page:
        started = time.monotonic()
        height = _scroll_through(driver, options.max_height, deadline)
        scroll_ms = round((time.monotonic() - started) * 1000)
        # A picture is kept under MAX_PIXELS (a wide page at scale 3 gets a lower limit).
        width, scale = options.viewport.width, options.device_scale
        limit = min(options.max_height, int(MAX_PIXELS / (width * scale * scale)))
        picture = _clip(cdp, options, (0, 0, width, min(height, limit)), height > limit)
        return replace(picture, scroll_ms=scroll_ms)
    started = time.monotonic()
    params = {**_mime_format(options), **({"optimizeForSpeed": True}
                                           if options.format == "png" else {})}
    data = base64.b64decode(cdp("Page.captureScreenshot", params)["data"])
    scale = options.device_scale
    return Picture(data, round(options.viewport.width * scale),
                   round(options.viewport.height * scale),
                   capture_ms=round((time.monotonic() - started) * 1000))


def _element_box(driver, selector):
    from selenium.common.exceptions import JavascriptException
    try:
        box = driver.execute_script(ELEMENT_BOX, selector)
    except JavascriptException:
        raise PageError(f"selector is not a valid CSS selector ({selector[:80]})") from None
    if box is None:
        raise PageError(f"no element matches the selector ({selector[:80]})")
    x, y, width, height = box
    if width < 1 or height < 1:
        raise PageError(f"the element matching the selector ({selector[:80]}) has no size")
    return (x, y, width, height)


def _scroll_through(driver, limit, deadline):
    budget = max(0.5, min(15, deadline - time.monotonic()))
    return int(driver.execute_async_script(SCROLL_THROUGH, limit, SCROLL_PAUSE_MS,
                                           round(budget * 1000), IMAGES_WAIT_MS))


def _clip(cdp, options, box, truncated):
    """Capture the box (CSS pixels) of the page, in slices if it is too tall for one."""
    x, y, width, height = box
    scale = options.device_scale
    slice_css = max(1, int(SLICE_PIXELS // scale))
    started = time.monotonic()
    if height <= slice_css:
        data = _capture_box(cdp, x, y, width, height, _mime_format(options))
        capture_ms = round((time.monotonic() - started) * 1000)
        return Picture(data, round(width * scale), round(height * scale), truncated,
                       capture_ms)
    slices = []
    top = 0
    while top < height:
        part = min(slice_css, height - top)
        slices.append(_capture_box(cdp, x, y + top, width, part, {"format": "png"}))
        top += part
    capture_ms = round((time.monotonic() - started) * 1000)
    started = time.monotonic()
    data, size = _stitch(slices, options)
    return Picture(data, *size, truncated, capture_ms,
                   round((time.monotonic() - started) * 1000))


def _capture_box(cdp, x, y, width, height, image_format):
    shot = cdp("Page.captureScreenshot", {
        **image_format, "captureBeyondViewport": True,
        "clip": {"x": x, "y": y, "width": width, "height": height, "scale": 1}})
    return base64.b64decode(shot["data"])


def _stitch(slices, options):
    images = [Image.open(io.BytesIO(data)) for data in slices]
    width = images[0].width
    whole = Image.new("RGB", (width, sum(image.height for image in images)))
    top = 0
    for image in images:
        whole.paste(image.convert("RGB"), (0, top))
        top += image.height
    out = io.BytesIO()
    if options.format == "png":
        whole.save(out, "PNG", compress_level=1)
    else:
        whole.save(out, options.format.upper(), quality=options.image_quality)
    return out.getvalue(), whole.size


def _pdf(driver, options, deadline):
    """The page printed to PDF, at the viewport's width: one page of the viewport's height,
    or for a full page as many as it takes."""
    started = time.monotonic()
    width, height = options.viewport.width, options.viewport.height
    truncated = False
    params = {"printBackground": True, "preferCSSPageSize": False, "scale": 1,
              "paperWidth": width / 96, "paperHeight": height / 96,
              "marginTop": 0, "marginBottom": 0, "marginLeft": 0, "marginRight": 0}
    if not options.full_page:
        params["pageRanges"] = "1"
    else:
        page_height = _scroll_through(driver, options.max_height, deadline)
        truncated = page_height > options.max_height
        if truncated:
            pages = max(1, -(-options.max_height // height))
            params["pageRanges"] = f"1-{pages}"
    data = base64.b64decode(driver.execute_cdp_cmd("Page.printToPDF", params)["data"])
    return Picture(data, width, height, truncated,
                   round((time.monotonic() - started) * 1000))
