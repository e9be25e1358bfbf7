"""Pillow work on captured images: thumbnails and basic facts.

Each function takes a picture as its bytes, or as an image decode() has opened: the images
lane decodes a capture once for its checks and its thumbnail (a PNG screenshot's decoding
is about a third of that lane's work)."""
import contextlib
import io
import warnings

from PIL import Image, ImageChops

THUMBNAIL_SIZE = (400, 250)
# A viewport screenshot is about a million pixels and the capture engine keeps a full page
# under 100 million; anything over this limit is not one of ours, and decoding it could take
# gigabytes (a decompression bomb).
MAX_PIXELS = 120_000_000


class ImageTooLarge(ValueError):
    """The image has more pixels than shootflow will decode."""


def _open(data):
    """Open image bytes, refusing anything over MAX_PIXELS before it is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageTooLarge(f"{image.width}×{image.height} pixels is more than "
                                    f"{MAX_PIXELS:,}")
            return image
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(str(exc)) from None


def image_size(data):
    with _open(data) as image:
        return image.size


def _first_pdf_page(data):
    """The first page of a PDF as an image, at about 1 pixel per CSS pixel."""
    import pypdfium2
    document = pypdfium2.PdfDocument(data)
    try:
        return document[0].render(scale=96 / 72).to_pil()
    finally:
        document.close()


def decode(data, image_format="png"):
    """The picture in data (of a PDF, its first page), for `with decode(…) as image`."""
    return _first_pdf_page(data) if image_format == "pdf" else _open(data)


@contextlib.contextmanager
def _opened(picture, image_format):
    if isinstance(picture, Image.Image):
        yield picture  # opened by the caller, who closes it
    else:
        with decode(picture, image_format) as image:
            yield image


BLANK_SPREAD = 3  # no channel varies more than this across the image: one colour


def is_blank(picture, image_format="png"):
    """Whether the picture is of one colour only (a page that had not painted yet)."""
    with _opened(picture, image_format) as image:
        small = image.convert("RGB").reduce(4) if min(image.size) >= 8 else image.convert("RGB")
        return all(high - low <= BLANK_SPREAD for low, high in small.getextrema())


def make_thumbnail(picture, image_format="png", size=THUMBNAIL_SIZE):
    """JPEG bytes of the top of the page (of a PDF, of its first page), cropped to the
    thumbnail's aspect ratio."""
    with _opened(picture, image_format) as image:
        width, height = image.size
        # A copy even when nothing is cut off (a default viewport has the thumbnail's ratio
        # already): the picture is the caller's, and thumbnail() works in place.
        image = image.crop((0, 0, width, min(height, round(width * size[1] / size[0]))))
        if image.mode != "RGB":
            image = image.convert("RGB")
        # Shrink by a whole factor first (a box filter, cheap), then Lanczos the rest: half
        # the time of Lanczos all the way, and the same thumbnail to the eye.
        image.thumbnail(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=82, optimize=True)
        return out.getvalue()


FINGERPRINT_SIDE = 256  # pixels on the short side a fingerprint is made from, at least


def fingerprint(picture, image_format="png"):
    """A picture's perceptual fingerprint, the cheap first test of a comparison: its size, a
    256-bit DCT hash of its grey picture (imagehash's phash; a few words of text change it)
    and a colour hash (a change of hue the grey hash cannot see)."""
    import imagehash  # numpy and scipy: loaded by the images lane only

    with _opened(picture, image_format) as image:
        # Both hashes look at a much smaller picture; shrinking by a whole factor first (a
        # box filter) makes them a few milliseconds instead of most of a comparison's cost.
        small = image.convert("RGB").reduce(max(1, min(image.size) // FINGERPRINT_SIDE))
        return {"size": list(image.size), "phash": str(imagehash.phash(small, hash_size=16)),
                "colorhash": str(imagehash.colorhash(small))}


CHANGE_TOLERANCE = 24  # a pixel differs once a channel moves more than this (JPEG noise)


def compare(before, after, ignore=(), before_format="png", after_format="png"):
    """How much of the picture changed: (share of pixels that differ, 0–1; a PNG of the
    later picture with the changed pixels in red). Rectangles in ignore ({x, y, width,
    height}, in the picture's pixels) are left out. Pictures of different sizes are compared
    over the larger one: what only one of them has counts as changed."""
    def picture(data, image_format):
        return _first_pdf_page(data) if image_format == "pdf" else _open(data)

    with picture(before, before_format) as old, picture(after, after_format) as new:
        width, height = max(old.width, new.width), max(old.height, new.height)
        canvas_old = Image.new("RGB", (width, height), (255, 0, 255))
        canvas_old.paste(old.convert("RGB"))
        canvas_new = Image.new("RGB", (width, height), (0, 255, 0))
        canvas_new.paste(new.convert("RGB"))
    difference = ImageChops.difference(canvas_old, canvas_new)
    changed = difference.convert("L").point(lambda v: 255 if v > CHANGE_TOLERANCE else 0)
    mask = Image.new("L", (width, height), 255)
    for box in ignore:
        mask.paste(0, (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]))
    changed = ImageChops.multiply(changed, mask)
    counted = mask.histogram()[255]
    share = changed.histogram()[255] / counted if counted else 0.0
    highlight = Image.blend(canvas_new, Image.new("RGB", (width, height), (255, 255, 255)), 0.6)
    highlight.paste((255, 0, 0), mask=changed)
    out = io.BytesIO()
    highlight.save(out, "PNG", compress_level=1)
    return share, out.getvalue()
