"""How a watch's captures are compared, on real rows and image files (no browser needed:
the pictures are drawn here): in slot order even when runs finish out of order, each run
once, and the perceptual fingerprint as the cheap first test."""
import hashlib
import io
from datetime import timedelta

import pytest
from PIL import Image, ImageDraw

from shootflow import lifecycle, watches
from shootflow.extensions import db
from shootflow.images import fingerprint
from shootflow.models import ShotState, Watch, WatchRun, utcnow
from shootflow.storage import MediaStore
from shootflow.watches import FINGERPRINT_FLOOR
from tests.helpers import fresh


def picture(text="Price $19.99", banner=(30, 60, 120), pixel=None):
    """A page-like picture: a banner, lines of text and a grey box."""
    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 60), fill=banner)
    for line in range(30):
        draw.text((40, 80 + line * 22), f"Lorem ipsum dolor sit amet {line}: {text}",
                  fill="black")
    draw.rectangle((800, 100, 1200, 400), fill=(200, 200, 200))
    if pixel:
        image.putpixel(pixel, (0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def store(app):
    return MediaStore(app.config["MEDIA_DIR"])


@pytest.fixture
def watch(ctx):
    row = Watch(url="http://127.0.0.1/watched", schedule="@daily", threshold=0.001)
    db.session.add(row)
    db.session.commit()
    yield row
    db.session.rollback()
    for run in fresh(Watch, row.id).runs:
        bundle = run.bundle
        db.session.delete(run)
        if bundle:
            db.session.delete(bundle)
    db.session.delete(fresh(Watch, row.id))
    db.session.commit()


def add_run(watch, store, minutes, state, image=None):
    """A run of the watch at now + minutes whose one shot is in `state` (with `image`)."""
    bundle = lifecycle.create_bundle([watch.url])
    bundle.watch_id = watch.id
    db.session.add(WatchRun(watch=watch, slot=utcnow() + timedelta(minutes=minutes),
                            bundle=bundle))
    db.session.flush()
    shot = bundle.shots[0]
    shot.state = state
    if image is not None:
        shot.image_path = store.shot_path(shot.id, "full.png")
        store.write(shot.image_path, image)
        shot.sha256, shot.format = hashlib.sha256(image).hexdigest(), "png"
    db.session.commit()
    return bundle.id


def run_of(bundle_id):
    db.session.expire_all()
    return db.session.query(WatchRun).filter_by(bundle_id=bundle_id).one()


def test_runs_that_finish_out_of_order_are_compared_in_slot_order(watch, store):
    first = add_run(watch, store, 0, ShotState.DONE, picture())
    second = add_run(watch, store, 1, ShotState.RUNNING)  # still capturing
    third = add_run(watch, store, 2, ShotState.DONE, picture(text="Price $29.99"))

    assert [r.bundle_id for r in watches.score_ready(watch.id, store)] == [first]
    assert run_of(third).scored_at is None  # it waits for the second, not past it
    assert watches.waiting_for_score(10) == [watch.id]  # the tick's sweep will see it

    shot = fresh(WatchRun, run_of(second).id).bundle.shots[0]
    shot.state, shot.image_path = ShotState.DONE, store.shot_path(shot.id, "full.png")
    store.write(shot.image_path, picture(text="Price $24.99"))
    shot.sha256, shot.format = "0" * 64, "png"
    db.session.commit()
    assert [r.bundle_id for r in watches.score_ready(watch.id, store)] == [second, third]
    assert run_of(second).previous_shot_id == run_of(first).bundle.shots[0].id
    assert run_of(third).previous_shot_id == run_of(second).bundle.shots[0].id
    assert run_of(third).change > 0 and run_of(first).change is None
    assert watches.waiting_for_score(10) == []
    assert watches.score_ready(watch.id, store) == []  # each run is scored once


def test_a_failed_run_is_passed_over(watch, store):
    first = add_run(watch, store, 0, ShotState.DONE, picture())
    add_run(watch, store, 1, ShotState.FAILED)
    third = add_run(watch, store, 2, ShotState.DONE, picture(text="Price $29.99"))
    watches.score_ready(watch.id, store)
    assert run_of(third).previous_shot_id == run_of(first).bundle.shots[0].id


def test_captures_that_look_the_same_cost_no_pixel_comparison(watch, store):
    watch.threshold = FINGERPRINT_FLOOR
    db.session.commit()
    add_run(watch, store, 0, ShotState.DONE, picture())
    # One pixel differs: another file, the same fingerprint.
    same = add_run(watch, store, 1, ShotState.DONE, picture(pixel=(1279, 799)))
    changed = add_run(watch, store, 2, ShotState.DONE, picture(text="Price $29.99"))
    watches.score_ready(watch.id, store)
    assert (run_of(same).change, run_of(same).diff_path) == (0.0, None)
    assert run_of(changed).change > 0 and run_of(changed).diff_path is not None


@pytest.mark.parametrize("threshold", [0.0, FINGERPRINT_FLOOR / 2])
def test_under_the_fingerprint_floor_every_pixel_counts(watch, store, threshold):
    watch.threshold = threshold
    db.session.commit()
    add_run(watch, store, 0, ShotState.DONE, picture())
    same = add_run(watch, store, 1, ShotState.DONE, picture(pixel=(1279, 799)))
    watches.score_ready(watch.id, store)
    assert run_of(same).change == round(1 / (1280 * 800), 6) > 0  # kept to 6 places
    assert run_of(same).changed is (threshold == 0.0)


@pytest.mark.parametrize("change", [
    {"text": "Price $29.99"},          # a few characters of text
    {"banner": (120, 60, 30)},         # a hue change the grey picture barely shows
])
def test_the_fingerprint_sees_small_changes(change):
    assert fingerprint(picture()) != fingerprint(picture(**change))


def test_the_fingerprint_is_the_same_for_the_same_picture_in_another_file():
    image = Image.open(io.BytesIO(picture()))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=9)
    assert out.getvalue() != picture() and fingerprint(out.getvalue()) == fingerprint(picture())
