"""One client's big bundle does not hold up another's one-URL bundle (real broker, worker,
Chromium): captures have two lanes, and a capture worker takes from them in turn."""
from shootflow.models import Bundle, Shot
from shootflow.workflows.canvas import INTERACTIVE_SHOTS, bundle_signature
from tests.helpers import fresh, wait_finished


def test_a_bundle_s_first_shots_go_to_the_interactive_lane(ctx, app):
    bundle = Bundle(id="b" * 24)
    shots = [Shot(id=f"{n:024x}", url=f"https://example.com/{n}", position=n, bundle=bundle)
             for n in range(INTERACTIVE_SHOTS + 2)]
    canvas = bundle_signature("b" * 24, shots, {shot.id: shot.id for shot in shots})
    lanes = [chain.tasks[0].options["queue"] for chain in canvas.tasks]
    assert lanes == ["capture"] * INTERACTIVE_SHOTS + ["capture.bulk"] * 2


def test_flower_and_ops_see_no_credentials(ctx, app):
    shot = Shot(id="s" * 24, bundle_id="b" * 24, url="https://me:secret@example.com/",
                position=0, bundle=Bundle(id="b" * 24))
    chain = bundle_signature("b" * 24, [shot], {shot.id: "t"}).tasks[0]
    assert [task.options["argsrepr"] for task in chain.tasks] == [
        f"shot={'s' * 24} bundle={'b' * 24} url=https://example.com/"] * 2


def test_a_one_url_bundle_overtakes_a_big_one(ctx, app, client, worker, pages):
    big_size = INTERACTIVE_SHOTS + 7
    app.config["MAX_BUNDLE_URLS"], limit = big_size, app.config["MAX_BUNDLE_URLS"]
    try:
        big = client.post("/api/v1/bundles", json={"urls": [
            pages.url("/slow", seconds=1, n=n) for n in range(big_size)]}).get_json()
    finally:
        app.config["MAX_BUNDLE_URLS"] = limit
    small = client.post("/api/v1/bundles", json={"urls": [pages.url(title="Small")]}).get_json()

    wait_finished(small["id"], timeout=60)
    wait_finished(big["id"], timeout=90)
    small_started = fresh(Bundle, small["id"]).shots[0].started_at
    after = [s.position for s in fresh(Bundle, big["id"]).shots if s.started_at > small_started]
    # First in, first out, the one-URL bundle would start after every shot of the big one.
    assert len(after) >= 2, "the one-URL bundle waited behind the big bundle"
