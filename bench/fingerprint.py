"""The perceptual fingerprint as the first test of a watch's comparison: how large a change
it can miss, and what it saves. Random edits (text, boxes, lines) of a page-like picture;
for each, the share of pixels the pixel comparison finds, and whether the fingerprints still
match. Prints the largest change a matching fingerprint hid (watches.FINGERPRINT_FLOOR must
stay well above it) and the cost of a fingerprint against a comparison.

    .venv/bin/python -m bench.fingerprint [--edits 300] [--seed 7]
"""
import argparse
import io
import random
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shootflow.images import compare, fingerprint  # noqa: E402
from shootflow.watches import FINGERPRINT_FLOOR  # noqa: E402

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "0123 4567 $19.99").split()


def page(height=800, edit=None):
    image = Image.new("RGB", (1280, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 60), fill=(30, 60, 120))
    text = random.Random(0)
    for line in range((height - 100) // 22):
        draw.text((40, 80 + line * 22), " ".join(text.choice(WORDS) for _ in range(12)),
                  fill="black")
    draw.rectangle((800, 100, 1200, 400), fill=(200, 200, 200))
    if edit:
        edit(draw)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def random_edit(rng):
    x, y, colour = rng.randrange(1200), rng.randrange(780), tuple(rng.randrange(256)
                                                                  for _ in range(3))
    kind = rng.choice(["text", "box", "line"])
    if kind == "text":
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 8)))
        return kind, lambda draw: draw.text((x, y), words, fill=colour)
    if kind == "box":
        width, height = rng.randrange(2, 120), rng.randrange(2, 80)
        return kind, lambda draw: draw.rectangle((x, y, x + width, y + height), fill=colour)
    length, thickness = rng.randrange(10, 1280), rng.randrange(1, 4)
    return kind, lambda draw: draw.line((x, y, x + length, y), fill=colour, width=thickness)


def timed(function, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    before = page()
    print_before = fingerprint(before)
    hidden, seen = [], []
    for _ in range(args.edits):
        kind, edit = random_edit(rng)
        after = page(edit=edit)
        share, _ = compare(before, after)
        (hidden if fingerprint(after) == print_before else seen).append((share, kind))
    print(f"{args.edits} random edits of a 1280×800 page: {len(seen)} changed the "
          f"fingerprint, {len(hidden)} did not")
    if hidden:
        share, kind = max(hidden)
        print(f"largest change a matching fingerprint hid: {share:.4%} of the pixels ({kind})")
    if seen:
        print(f"smallest change the fingerprint saw: {min(seen)[0]:.4%}")
    print(f"FINGERPRINT_FLOOR (the least threshold that trusts it): {FINGERPRINT_FLOOR:.2%}")
    for height in (800, 8000):
        a, b = page(height), page(height, edit=lambda draw: draw.text((50, 90), "x"))
        print(f"1280×{height}: fingerprint {timed(lambda: fingerprint(b)):.0f} ms, "
              f"pixel comparison with its picture {timed(lambda: compare(a, b)):.0f} ms")


if __name__ == "__main__":
    main()
