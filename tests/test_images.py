"""Pillow work alone: thumbnails, one decoded picture for every check, and images too large
to decode safely."""
import io
import zlib
import struct

import pytest
from PIL import Image

from shootflow.images import ImageTooLarge, decode, image_size, is_blank, make_thumbnail


def png_bytes(width, height, color=(10, 200, 30)):
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def bomb_png(width, height):
    """A few-kilobyte PNG that claims width×height pixels (mostly never written)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * 16)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def close(pixel, colour):
    return all(abs(a - b) < 8 for a, b in zip(pixel, colour))


def test_thumbnail_crops_the_top_and_keeps_colour():
    page = Image.new("RGB", (1280, 3000), (200, 10, 10))  # below the first screen: red
    page.paste((10, 200, 30), (0, 0, 1280, 800))           # the first screen: green
    out = io.BytesIO()
    page.save(out, "PNG")
    thumb = Image.open(io.BytesIO(make_thumbnail(out.getvalue())))
    assert thumb.format == "JPEG" and thumb.size == (400, 250)
    assert close(thumb.getpixel((200, 5)), (10, 200, 30))
    assert close(thumb.getpixel((200, 245)), (10, 200, 30))  # no red: only the top was kept


def test_viewport_screenshot_with_alpha_makes_a_whole_thumbnail():
    out = io.BytesIO()
    Image.new("RGBA", (1280, 800), (30, 60, 220, 255)).save(out, "PNG")
    thumb = Image.open(io.BytesIO(make_thumbnail(out.getvalue())))
    assert thumb.mode == "RGB" and thumb.size == (400, 250)
    assert close(thumb.getpixel((399, 249)), (30, 60, 220))


def test_one_decoded_picture_serves_the_blank_check_and_the_thumbnail():
    """The images lane decodes a capture once; what it makes from the picture is what the
    bytes give, and leaves the picture as it was (a thumbnail is made in place)."""
    page = Image.new("RGB", (1280, 800), (250, 250, 250))
    page.paste((10, 200, 30), (100, 100, 600, 300))
    out = io.BytesIO()
    page.save(out, "PNG")
    with decode(out.getvalue()) as picture:
        assert not is_blank(picture)
        thumb = make_thumbnail(picture)
        assert picture.size == (1280, 800)
        assert make_thumbnail(picture) == thumb
    assert thumb == make_thumbnail(out.getvalue())
    with decode(png_bytes(1280, 800)) as one_colour:
        assert is_blank(one_colour)


@pytest.mark.parametrize("size", [(60_000, 60_000), (200_000, 1_000)])
def test_images_over_the_pixel_limit_are_refused_before_decoding(size):
    bomb = bomb_png(*size)
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLarge):
        make_thumbnail(bomb)
    with pytest.raises(ImageTooLarge):
        image_size(bomb)
