"""The canvas and tasks with a real broker and worker: final states, idempotency, bad arguments."""
import pytest
from celery.exceptions import TaskError

from shootflow.extensions import db
from shootflow.models import Shot
from shootflow.services import submit_bundle
from shootflow.storage import MediaStore
from shootflow.workflows.canvas import LANES
from tests.helpers import fresh, row_counts, wait_finished

pytestmark = pytest.mark.amqp  # the whole canvas, on either broker


def test_all_failed_bundle_ends_failed(ctx, worker, closed_port_url):
    bundle = submit_bundle([closed_port_url], "test")
    assert wait_finished(bundle.id).state == "failed"


def test_all_done_bundle_ends_done(ctx, worker, pages):
    bundle = submit_bundle([pages.url(title="One"), pages.url(title="Two")], "test")
    finished = wait_finished(bundle.id)
    assert finished.state == "done"
    assert [s.title for s in finished.shots] == ["One", "Two"]
    assert all(s.started_at <= s.captured_at <= s.finished_at for s in finished.shots)


def test_running_a_capture_twice_leaves_one_result(ctx, app, worker, celery_app, pages):
    bundle = submit_bundle([pages.url(title="Twice")], "test")
    shot = wait_finished(bundle.id).shots[0]
    image = MediaStore(app.config["MEDIA_DIR"]).absolute(shot.image_path)
    before = (image.stat().st_mtime_ns, shot.finished_at, shot.task_id)

    capture = celery_app.signature("shots.capture", args=(shot.id,))
    assert capture.apply_async().get(timeout=30) == shot.id
    again = fresh(Shot, shot.id)
    assert (image.stat().st_mtime_ns, again.finished_at, again.task_id) == before
    assert again.state == "done"


@pytest.mark.parametrize("task, args, message", [
    ("shots.capture", ("not-an-id",), "shot id must be 24 hex characters"),
    ("shots.capture", (42,), "shot id must be 24 hex characters"),
    ("shots.process", ("0" * 24,), "no shot with id 000000000000000000000000"),
    ("bundles.finalize", (None,), "bundle id must be 24 hex characters"),
    ("bundles.dispatch", ("f" * 24,), "no bundle with id ffffffffffffffffffffffff"),
])
def test_bad_task_arguments_fail_clearly_and_write_nothing(ctx, worker, celery_app,
                                                           task, args, message):
    before = row_counts()
    result = celery_app.signature(task, args=args).apply_async()
    with pytest.raises(Exception, match=message) as info:
        result.get(timeout=30)
    assert not isinstance(info.value, TaskError)
    assert row_counts() == before
    db.session.rollback()


@pytest.mark.parametrize("lane", LANES)
def test_a_capture_sent_to_a_lane_travels_in_that_queue(ctx, worker, celery_app, lane):
    """As canvas.capture_lane sends them: the lane's own queue, not the route's default."""
    result = celery_app.signature("shots.capture", args=("0" * 24,)).set(queue=lane).apply_async()
    with pytest.raises(Exception, match="no shot with id"):
        result.get(timeout=30)
    assert result.queue == lane  # the routing key it was delivered with (result_extended)
