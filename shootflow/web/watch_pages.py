"""Pages for watches: the list with a form to add one, a watch's timeline (live), and two of
its captures compared side by side, overlaid, or as a difference picture."""
from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template,
                   request, url_for)

from ..extensions import db
from ..images import compare
from ..models import Shot, Watch, WatchRun, WebhookDelivery
from ..services import (ServiceError, create_watch, delete_watch, pause_watch, run_watch_now,
                        watch_bundle)
from ..storage import MediaStore
from ..watches import ignored_boxes, schedule_of, shot_of
from .access import owned, owner_id, visible, visible_or_404
from .media import image_url

bp = Blueprint("watch_pages", __name__, url_prefix="/watches")
TIMELINE_SIZE = 100
DELIVERIES_SHOWN = 20
COMPARE_MODES = ("side", "overlay", "diff")


def _rows(watch, limit=TIMELINE_SIZE):
    """The watch's runs, newest first, each with its shot."""
    runs = db.session.scalars(db.select(WatchRun).where(WatchRun.watch_id == watch.id)
                              .order_by(WatchRun.slot.desc()).limit(limit)).all()
    return [(run, shot_of(run)) for run in runs]


def _form_values(form):
    values = {"url": form.get("url", ""), "schedule": form.get("schedule", ""),
              "timezone": form.get("timezone", "").strip() or "UTC"}
    threshold = form.get("threshold", "").strip()
    if threshold:
        try:
            values["threshold"] = float(threshold) / 100  # the form asks for a percentage
        except ValueError:
            values["threshold"] = threshold  # refused with the usual words
    return values


@bp.get("")
def index(error=None, status=200, form=None):
    watches = db.session.scalars(owned(db.select(Watch), Watch)
                                 .order_by(Watch.created_at.desc())).all()
    latest = {w.id: (_rows(w, limit=1) or [(None, None)])[0] for w in watches}
    return render_template("watches.html", watches=watches, latest=latest,
                           schedule_of=schedule_of, error=error, form=form or {}), status


@bp.post("")
def create():
    try:
        watch = create_watch(_form_values(request.form), request.remote_addr, owner_id())
    except ServiceError as exc:
        return index(str(exc), exc.status, request.form)
    return redirect(url_for("watch_pages.show", watch_id=watch.id), 303)


@bp.post("/from-shot/<shot_id>")
def from_shot(shot_id):
    shot = visible_or_404(Shot, shot_id)
    try:
        made = watch_bundle([shot], {"schedule": request.form.get("schedule", "")},
                            request.remote_addr, owner_id())
    except ServiceError as exc:
        flash(str(exc))
        return redirect(url_for("pages.shot", shot_id=shot.id), 303)
    return redirect(url_for("watch_pages.show", watch_id=made[0].id), 303)


@bp.get("/<watch_id>")
def show(watch_id):
    watch = visible_or_404(Watch, watch_id)
    template = "_timeline.html" if request.headers.get("HX-Request") else "watch.html"
    deliveries = db.session.scalars(
        db.select(WebhookDelivery).where(WebhookDelivery.watch_id == watch.id)
        .order_by(WebhookDelivery.created_at.desc()).limit(DELIVERIES_SHOWN)).all()
    return render_template(template, watch=watch, rows=_rows(watch), deliveries=deliveries,
                           words=schedule_of(watch).describe())


def _act(watch_id, action):
    watch = visible_or_404(Watch, watch_id)
    try:
        action(watch)
    except ServiceError as exc:
        flash(str(exc))
    return redirect(url_for("watch_pages.show", watch_id=watch.id), 303)


@bp.post("/<watch_id>/pause")
def pause(watch_id):
    return _act(watch_id, lambda watch: pause_watch(watch, True))


@bp.post("/<watch_id>/resume")
def resume(watch_id):
    return _act(watch_id, lambda watch: pause_watch(watch, False))


@bp.post("/<watch_id>/run")
def run(watch_id):
    return _act(watch_id, run_watch_now)


@bp.post("/<watch_id>/delete")
def delete(watch_id):
    watch = visible_or_404(Watch, watch_id)
    delete_watch(watch, request.form.get("files") == "1",
                 MediaStore(current_app.config["MEDIA_DIR"]))
    return redirect(url_for("watch_pages.index"), 303)


def _pair(watch):
    """The two captures of the watch to compare: ?a= (earlier) and ?b= (later) shot ids."""
    shots = {shot.id: shot for _, shot in _rows(watch) if shot and shot.state == "done"}
    a, b = shots.get(request.args.get("a", "")), shots.get(request.args.get("b", ""))
    if a is None or b is None:
        abort(404)
    return a, b


@bp.get("/<watch_id>/compare")
def compare_page(watch_id):
    watch = visible_or_404(Watch, watch_id)
    a, b = _pair(watch)
    mode = request.args.get("mode", "side")
    if mode not in COMPARE_MODES:
        abort(404)
    return render_template("compare.html", watch=watch, a=a, b=b, mode=mode,
                           modes=COMPARE_MODES, image_url=image_url)


@bp.get("/<watch_id>/compare.png")
def compare_picture(watch_id):
    """The later capture with what differs from the earlier one in red."""
    watch = visible(Watch, watch_id) or abort(404)
    a, b = _pair(watch)
    store = MediaStore(current_app.config["MEDIA_DIR"])
    _, picture = compare(store.read(a.image_path), store.read(b.image_path),
                         ignored_boxes(watch, a, b), a.format or "png", b.format or "png")
    return Response(picture, mimetype="image/png")
