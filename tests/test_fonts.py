"""Captured pages show Chinese, Japanese, Korean, the big Indic scripts, Thai and emoji as
glyphs, not as the empty boxes ("tofu") Chromium draws for a character no font has."""
import io
import json

import pytest
from PIL import Image, ImageChops

from shootflow.capture import Browser, BrowserOptions

# Four different characters of each script and the package whose font draws them. A script
# without a font comes out as four identical boxes.
SCRIPTS = [
    ("Chinese", "中文汉字", "fonts-noto-cjk"),
    ("Japanese", "ひらがな", "fonts-noto-cjk"),
    ("Korean", "한국어글", "fonts-noto-cjk"),
    ("Devanagari", "कखगघ", "fonts-noto-core"),
    ("Bengali", "কখগঘ", "fonts-noto-core"),
    ("Thai", "กขคง", "fonts-noto-core"),
    ("emoji", "😀🍕🚀🌍", "fonts-noto-color-emoji"),
]
EMOJI = SCRIPTS[-1][1]
BLANK = " "
TOFU = "\ue000"  # private use: no font has it, so it shows what a box looks like here
ROWS = [list(chars) for _, chars, _ in SCRIPTS] + [[BLANK, TOFU]]
CELL = 100  # px: each character alone in a square this big, clipped to it
# An emoji in colour fills a twentieth of its cell with colour at least (Noto Color Emoji's
# four here fill 14-36%); black, grey and white pixels never count.
COLOURED = CELL * CELL // 20
# Lays the characters out in a grid of cells, a row per script, over the test page.
LAYOUT = """const rows = %s, cell = %d;
document.body.replaceChildren(...rows.flatMap((row, y) => row.map((text, x) => {
  const box = document.createElement("div");
  box.textContent = text;
  box.style.cssText = `position:absolute;left:${x * cell}px;top:${y * cell}px;` +
    `width:${cell}px;height:${cell}px;overflow:hidden;text-align:center;` +
    `font:${cell * 0.7}px/${cell}px sans-serif`;
  return box;
})));"""


@pytest.fixture(scope="module")
def cells(pages):
    """Each character's cell in one capture of the grid, by character."""
    browser = Browser(BrowserOptions(egress_guard=False))
    url = pages.url(title="Fonts", script=LAYOUT % (json.dumps(ROWS), CELL))
    try:
        result = browser.capture(url)
    finally:
        browser.quit()
    image = Image.open(io.BytesIO(result.image)).convert("RGB")
    return {text: image.crop((x * CELL, y * CELL, (x + 1) * CELL, (y + 1) * CELL))
            for y, row in enumerate(ROWS) for x, text in enumerate(row)}


def same(one, other):
    """Are two cells the same picture, pixel for pixel?"""
    return ImageChops.difference(one, other).getbbox() is None


def coloured_pixels(image):
    """Pixels whose channels differ by more than 80: colour, not black, grey or white."""
    red, green, blue = image.split()
    high = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    low = ImageChops.darker(ImageChops.darker(red, green), blue)
    return sum(ImageChops.subtract(high, low).histogram()[81:])


@pytest.mark.parametrize("script, chars, package", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_each_character_draws_a_glyph_of_its_own(cells, script, chars, package):
    hint = f"is {package} installed? (`make test` installs it)"
    for char in chars:
        name = f"{script} {char} (U+{ord(char):04X})"
        assert not same(cells[char], cells[BLANK]), f"{name} drew nothing; {hint}"
        assert not same(cells[char], cells[TOFU]), f"{name} drew a box; {hint}"
    drawn = len({cells[char].tobytes() for char in chars})
    assert drawn == len(chars), \
        f"{len(chars)} different {script} characters drew {drawn} different pictures; {hint}"


def test_emoji_are_in_colour(cells):
    """Without a colour emoji font some emoji come out as black outlines (DejaVu has a
    few), which pass the test above; Noto Color Emoji's are coloured."""
    for char in EMOJI:
        assert coloured_pixels(cells[char]) >= COLOURED, \
            f"emoji U+{ord(char):04X} is not in colour; is fonts-noto-color-emoji installed?"
