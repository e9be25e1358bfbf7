"""Pillow work on captured images: thumbnails and basic facts."""
import io

from PIL import Image

THUMBNAIL_SIZE = (400, 250)


def image_size(data):
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def make_thumbnail(data, size=THUMBNAIL_SIZE):
    """JPEG bytes of the top of the page, cropped to the thumbnail's aspect ratio."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        width, height = image.size
        target_ratio = size[0] / size[1]
        crop_height = min(height, round(width / target_ratio))
        image = image.crop((0, 0, width, crop_height))
        image.thumbnail(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=82, optimize=True)
        return out.getvalue()
