"""Watches with a real beat, worker and Chromium: runs started from the rows once per slot,
each capture scored against the one before; and every bad value refused."""
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from shootflow.extensions import db
from shootflow.models import Watch, WatchRun, utcnow
from shootflow.testing.servers import wait_for
from shootflow.testing.workers import CeleryBeat
from shootflow.watches import start_due_runs
from tests.helpers import fresh, wait_finished

PAGE = """<!doctype html><html><head><title>watched</title><style>body{{margin:0;
height:100vh;background:#ffffff}} #box{{position:absolute;left:0;top:0;width:{width}px;
height:200px;background:#ff0000}}</style></head><body><div id="box"></div></body></html>"""


def watch_count():
    db.session.expire_all()
    return db.session.query(Watch).count()


def test_a_watch_is_made_with_its_schedule_in_words(ctx, client, pages):
    response = client.post("/api/v1/watches", json={
        "url": pages.url(title="Watched"), "schedule": "0 9 * * 1-5",
        "timezone": "Europe/Berlin", "threshold": 0.05,
        "ignore": [{"x": 0, "y": 0, "width": 1280, "height": 60}],
        "options": {"full_page": True}})
    assert response.status_code == 201, response.get_json()
    watch = response.get_json()
    assert len(watch["secret"]) == 64 and watch["captures"] == []
    assert watch["schedule_words"] == "At 09:00, Monday through Friday (Europe/Berlin)"
    assert watch["next_run_at"].endswith(":00:00Z")
    shown = client.get(response.headers["Location"]).get_json()
    assert "secret" not in shown and shown["options"] == {"full_page": True}
    listed = client.get("/api/v1/watches").get_json()["watches"]
    assert watch["id"] in [w["id"] for w in listed]
    assert client.delete(response.headers["Location"]).status_code == 204
    assert client.get(response.headers["Location"]).status_code == 404


@pytest.mark.parametrize("values, message", [
    ({"schedule": "@daily"}, '"url" must be a URL string'),
    ({"url": "https://example.com/", "schedule": "every 0 minutes"},
     '"schedule" must run every 1 or more minutes'),
    ({"url": "https://example.com/", "schedule": "every 30 seconds"},
     "is not a five-field cron expression"),
    ({"url": "https://example.com/", "schedule": "@daily", "timezone": "Nowhere/Else"},
     "is not an IANA time zone name"),
    ({"url": "https://example.com/", "schedule": "@daily", "threshold": 2},
     '"threshold" must be the share of pixels'),
    ({"url": "https://example.com/", "schedule": "@daily", "ignore": [{"x": 1}]},
     '"ignore" item 1 must be a CSS selector or a rectangle'),
    ({"url": "http://10.0.0.1/", "schedule": "@daily"}, '"url":'),
    ({"url": "https://example.com/", "schedule": "@daily",
      "webhook_url": "http://169.254.169.254/hook"}, '"webhook_url":'),
    ({"url": "https://example.com/", "schedule": "@daily", "options": {"scale": 9}},
     'Option "scale" must be from 1 to 3'),
    ({"url": "https://example.com/", "schedule": "@daily", "colour": "red"},
     '"colour" is not a field of a watch'),
])
def test_bad_watches_are_refused_and_nothing_is_kept(ctx, client, values, message):
    before = watch_count()
    response = client.post("/api/v1/watches", json=values)
    assert response.status_code == 400 and message in response.get_json()["error"], \
        response.get_json()
    assert watch_count() == before


def test_runs_may_not_come_closer_than_the_minimum_interval(ctx, app, client):
    before = watch_count()
    app.config["MIN_WATCH_INTERVAL"], saved = 600, app.config["MIN_WATCH_INTERVAL"]
    try:
        response = client.post("/api/v1/watches", json={
            "url": "https://example.com/", "schedule": "*/5 * * * *"})
    finally:
        app.config["MIN_WATCH_INTERVAL"] = saved
    assert response.status_code == 400
    assert "would run every 300 s; runs may not come closer than 600 s" in \
        response.get_json()["error"]
    assert watch_count() == before


def test_a_slot_another_tick_took_is_not_run_again(ctx, client, pages):
    watch = client.post("/api/v1/watches", json={
        "url": pages.url(title="Once"), "schedule": "@hourly"}).get_json()
    row = fresh(Watch, watch["id"])
    slot = row.next_run_at = utcnow() - timedelta(hours=3)  # three slots missed
    db.session.add(WatchRun(watch=row, slot=slot))  # ... and another beat took the first
    db.session.commit()
    assert [b.watch_id for b in start_due_runs(utcnow())] == []
    row = fresh(Watch, watch["id"])
    assert row.next_run_at > utcnow() and len(row.runs) == 1  # moved on, nothing doubled
    client.delete(f"/api/v1/watches/{watch['id']}")


def test_beat_runs_a_due_watch_once_and_scores_each_capture(ctx, app, client, worker, beat,
                                                             pages):
    url = pages.set_page("watched", PAGE.format(width=100))
    watch = client.post("/api/v1/watches", json={
        "url": url, "schedule": "@hourly", "threshold": 0.01}).get_json()
    row = fresh(Watch, watch["id"])
    row.next_run_at = utcnow() - timedelta(hours=5)  # missed while everything was down
    db.session.commit()

    first = wait_for(lambda: fresh(Watch, watch["id"]).runs, timeout=30,
                     message="beat to start the due run")
    wait_finished(first[0].bundle_id, timeout=60)
    assert len(fresh(Watch, watch["id"]).runs) == 1  # five missed slots: one run
    assert fresh(Watch, watch["id"]).next_run_at > utcnow()

    def run_and_score():
        bundle_id = client.post(f"/api/v1/watches/{watch['id']}/run").get_json()["bundle_id"]
        wait_finished(bundle_id, timeout=60)
        return wait_for(lambda: client.get(f"/api/v1/watches/{watch['id']}").get_json()
                        ["captures"][0], timeout=10, message="the run to show")

    pages.set_page("watched", PAGE.format(width=700))  # the red box grows
    changed = run_and_score()
    assert changed["state"] == "done" and changed["changed"] is True
    assert changed["change"] == pytest.approx(600 * 200 / (1280 * 800), abs=0.01)
    diff = client.get(changed["diff_url"])
    assert diff.status_code == 200 and diff.mimetype == "image/png"

    same = run_and_score()
    assert (same["change"], same["changed"], same["diff_url"]) == (0.0, False, None)
    captures = client.get(f"/api/v1/watches/{watch['id']}").get_json()["captures"]
    assert [c["change"] for c in captures] == [0.0, changed["change"], None]
    client.delete(f"/api/v1/watches/{watch['id']}")


def test_two_runs_at_once_are_compared_in_order(ctx, client, worker, beat, pages):
    """Run now, twice at once: the worker captures both side by side and either may finish
    first; the later run is still compared with the earlier one, never with the first."""
    url = pages.set_page("twice", PAGE.format(width=100))
    watch = client.post("/api/v1/watches", json={"url": url, "schedule": "@daily"}).get_json()
    wait_finished(client.post(f"/api/v1/watches/{watch['id']}/run").get_json()["bundle_id"])
    pages.set_page("twice", PAGE.format(width=700))
    bundles = [client.post(f"/api/v1/watches/{watch['id']}/run").get_json()["bundle_id"]
               for _ in range(2)]
    for bundle_id in bundles:
        wait_finished(bundle_id)
    runs = wait_for(lambda: (r := fresh(Watch, watch["id"]).runs)
                    and all(run.scored_at for run in r) and r, timeout=30,
                    message="every run scored")
    latest, earlier, first = runs  # newest first
    assert earlier.previous_shot_id == first.bundle.shots[0].id and earlier.changed
    assert latest.previous_shot_id == earlier.bundle.shots[0].id
    assert latest.change == 0.0 and not latest.changed
    client.delete(f"/api/v1/watches/{watch['id']}")


@pytest.fixture
def second_beat(test_env, tmp_path):
    """Another `celery beat`, started by mistake beside the first: its own schedule file,
    the same broker and database."""
    proc = CeleryBeat(dict(os.environ), tmp_path, "beat-2")
    yield proc
    proc.stop()


def test_two_beats_start_each_slot_once(ctx, client, worker, beat, second_beat, pages):
    """Two beats send two ticks a second; the worker runs them side by side. Each due
    watch still runs once for its slot."""
    urls = [pages.url(title=f"Two beats {i}") for i in range(30)]
    ids = [client.post("/api/v1/watches", json={"url": url, "schedule": "@hourly"})
           .get_json()["id"] for url in urls]
    db.session.execute(update(Watch).where(Watch.id.in_(ids))
                       .values(next_run_at=utcnow() - timedelta(minutes=90)))
    db.session.commit()
    wait_for(lambda: all(fresh(Watch, i).next_run_at > utcnow() for i in ids), timeout=30,
             message="the beats' ticks to start the due runs")
    # Several more ticks from each beat after the runs started: none may start another.
    seen = [b.ticks_sent("watches") for b in (beat, second_beat)]
    wait_for(lambda: all(b.ticks_sent("watches") >= n + 3
                         for b, n in zip((beat, second_beat), seen)),
             timeout=30, message="three more ticks from each beat")
    for watch_id, url in zip(ids, urls):
        runs = fresh(Watch, watch_id).runs
        assert len(runs) == 1, f"watch {watch_id} ran {len(runs)} times for one slot"
        wait_finished(runs[0].bundle_id, timeout=60)
        assert pages.loads(url) == 1
    for watch_id in ids:
        client.delete(f"/api/v1/watches/{watch_id}")


def test_editing_a_watch_changes_its_next_run_and_refuses_bad_values(ctx, client, pages):
    watch = client.post("/api/v1/watches", json={
        "url": pages.url(title="Edited"), "schedule": "@daily"}).get_json()
    edited = client.patch(f"/api/v1/watches/{watch['id']}", json={
        "schedule": "0 9 * * 1-5", "timezone": "America/New_York", "threshold": 0.2})
    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert (body["schedule"], body["timezone"], body["threshold"]) == \
        ("0 9 * * 1-5", "America/New_York", 0.2)
    assert body["next_run_at"][11:16] in ("13:00", "14:00")  # 09:00 in New York, in UTC
    refused = client.patch(f"/api/v1/watches/{watch['id']}", json={"schedule": "sometimes"})
    assert refused.status_code == 400 and "not a five-field cron" in refused.get_json()["error"]
    assert fresh(Watch, watch["id"]).schedule == "0 9 * * 1-5"
    client.delete(f"/api/v1/watches/{watch['id']}")


def test_a_bundle_becomes_watches_with_its_options(ctx, client, pages):
    body = client.post("/api/v1/bundles", json={
        "options": {"full_page": True},
        "urls": [pages.url(title="A"),
                 {"url": pages.url(title="B"), "options": {"format": "jpeg"}}]}).get_json()
    client.post(f"{body['url']}/cancel")
    made = client.post(f"/api/v1/watches/from-bundle/{body['id']}",
                       json={"schedule": "@hourly"})
    assert made.status_code == 201, made.get_json()
    watches = made.get_json()["watches"]
    assert [w["options"] for w in watches] == [{"full_page": True},
                                               {"full_page": True, "format": "jpeg"}]
    assert all(len(w["secret"]) == 64 and w["schedule"] == "@hourly" for w in watches)
    before = watch_count()
    refused = client.post(f"/api/v1/watches/from-bundle/{body['id']}",
                          json={"schedule": "@hourly", "threshold": -1})
    assert refused.status_code == 400 and watch_count() == before
    for watch in watches:
        client.delete(f"/api/v1/watches/{watch['id']}")


def test_only_the_last_captures_are_kept(ctx, app, client, worker, pages):
    """SHOOTFLOW_WATCH_KEEP is 3 for the tests: a fourth run removes the first, files too."""
    watch = client.post("/api/v1/watches", json={
        "url": pages.url(title="Kept"), "schedule": "@daily"}).get_json()
    shots = []  # (id, image file) of each run's shot
    for _ in range(4):
        bundle_id = client.post(f"/api/v1/watches/{watch['id']}/run").get_json()["bundle_id"]
        shot = wait_finished(bundle_id, timeout=60).shots[0]
        shots.append((shot.id, Path(app.config["MEDIA_DIR"], shot.image_path)))
    wait_for(lambda: not shots[0][1].exists(), timeout=15, message="the oldest files to go")
    kept = client.get(f"/api/v1/watches/{watch['id']}").get_json()["captures"]
    assert [c["shot_id"] for c in kept] == [shot_id for shot_id, _ in reversed(shots[1:])]
    assert shots[1][1].exists()
    image_url = client.get(f"/api/v1/shots/{shots[3][0]}").get_json()["image_url"]
    shots[1][1].unlink()  # a file gone from under its row: no image to send, not an error
    assert client.get(kept[-1]["image_url"]).status_code == 404
    client.delete(f"/api/v1/watches/{watch['id']}?files=1")
    assert not shots[3][1].exists()  # with ?files=1 its bundles go too, rows and images
    assert client.get(f"/api/v1/shots/{shots[3][0]}").status_code == 404
    assert client.get(image_url).status_code == 404


CLOCK = """<!doctype html><html><head><title>clock</title><style>body{{margin:0;
background:#ffffff}} #clock{{position:absolute;left:100px;top:100px;width:400px;height:200px;
background:{color}}}</style></head><body><div id="clock"></div></body></html>"""


@pytest.mark.parametrize("ignore, changed", [(["#clock"], False), ([], True)])
def test_ignored_elements_are_left_out_of_the_comparison(ctx, client, worker, pages, ignore,
                                                         changed):
    page = f"clock-{len(ignore)}"
    url = pages.set_page(page, CLOCK.format(color="#ff0000"))
    watch = client.post("/api/v1/watches", json={
        "url": url, "schedule": "@daily", "ignore": ignore}).get_json()
    for color in ("#ff0000", "#0000ff"):  # the element changes between the two runs
        pages.set_page(page, CLOCK.format(color=color))
        bundle_id = client.post(f"/api/v1/watches/{watch['id']}/run").get_json()["bundle_id"]
        wait_finished(bundle_id, timeout=60)
    latest = wait_for(lambda: (c := client.get(f"/api/v1/watches/{watch['id']}").get_json()
                               ["captures"][0])["change"] is not None and c, timeout=15,
                      message="the second capture scored")
    assert latest["changed"] is changed
    assert (latest["change"] == 0.0) is (not changed)
    client.delete(f"/api/v1/watches/{watch['id']}")
