"""Creating bundles and moving bundles and shots through their states; no Flask views, no Celery."""
import logging
import uuid

from .extensions import db
from .images import image_size, make_thumbnail
from .models import Bundle, Shot, utcnow

log = logging.getLogger(__name__)


def create_bundle(urls):
    """Add a bundle with one queued shot per URL (not committed); task ids are fixed up front."""
    bundle = Bundle()
    bundle.shots = [Shot(url=url, position=i, task_id=str(uuid.uuid4()))
                    for i, url in enumerate(urls)]
    db.session.add(bundle)
    return bundle


def start_shot(shot):
    """Mark a shot as being captured; its bundle is running from the first capture on."""
    shot.state = "running"
    shot.started_at = utcnow()
    if shot.bundle.state == "queued":
        shot.bundle.state = "running"


def fail_shot(shot, message):
    shot.state = "failed"
    shot.error = message
    shot.finished_at = utcnow()
    log.info("shot %s of bundle %s failed: %s", shot.id, shot.bundle_id, message)


def record_capture(shot, result, store):
    """Keep the original image and the page's facts; the thumbnail comes later."""
    path = store.shot_path(shot.id, "full.png")
    shot.image_bytes = store.write(path, result.png)
    shot.width, shot.height = image_size(result.png)
    shot.image_path = path
    shot.title = result.title
    shot.final_url = result.final_url
    shot.http_status = result.http_status
    shot.capture_ms = result.elapsed_ms
    shot.captured_at = utcnow()


def record_thumbnail(shot, store):
    """Make the thumbnail from the stored original and mark the shot done."""
    path = store.shot_path(shot.id, "thumb.jpg")
    store.write(path, make_thumbnail(store.read(shot.image_path)))
    shot.thumbnail_path = path
    shot.state = "done"
    shot.finished_at = utcnow()


def finalize(bundle):
    """Settle the bundle: any shot still open is failed, then the state follows the shots."""
    for shot in bundle.shots:
        if not shot.finished:
            fail_shot(shot, "the capture was lost before it finished")
    bundle.state = bundle.final_state()
    bundle.finished_at = utcnow()
    log.info("bundle %s finished %s", bundle.id, bundle.state)
