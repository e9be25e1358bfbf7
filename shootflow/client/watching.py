"""`shootflow watch …`: pages captured on a schedule, over the watches API."""
import re

import click

from ..schedules import ScheduleError, parse_schedule
from .flags import capture_flags, options_from
from .http import segment
from .output import as_json, print_json, when

EVERY = re.compile(r"^(\d{1,5})\s*(m|min|minutes?|h|hours?|d|days?)$")
UNITS = {"m": "minute", "h": "hour", "d": "day"}


def _every(ctx, param, value):
    """--every 15m as the API's schedule "every 15 minutes"."""
    if value is None:
        return None
    match = EVERY.match(value.strip().lower())
    if not match:
        raise click.BadParameter(f"{value[:40]!r} is not a count and a unit such as 15m, 1h "
                                 "or 2d", ctx, param)
    count, unit = int(match[1]), UNITS[match[2][0]]
    if count < 1:
        raise click.BadParameter("must be at least 1, such as 15m", ctx, param)
    return f"every {count} {unit}" + ("s" if count > 1 else "")


@click.group()
def watch():
    """Pages captured on a schedule, each capture compared with the one before."""


@watch.command("add")
@click.argument("url")
@click.option("--every", callback=_every, metavar="N{m|h|d}",
              help="Capture every N minutes, hours or days, such as 15m.")
@click.option("--cron", metavar="EXPR", help="Capture on a five-field cron schedule "
                                             "(or @hourly, @daily, @weekly).")
@click.option("--timezone", metavar="ZONE", help="IANA time zone --cron is read in "
                                                 "[default: UTC].")
@click.option("--threshold", type=click.FloatRange(0, 1),
              help="Share of pixels that must change to count as a change [default: 0.01].")
@click.option("--ignore", multiple=True, metavar="SELECTOR",
              help="Leave elements matching this out of comparisons; repeatable.")
@click.option("--webhook", metavar="URL", help="Told (POST, signed) when a capture changes.")
@capture_flags(one_viewport=True)
@as_json
@click.pass_context
def add_watch(ctx, url, every, cron, timezone, threshold, ignore, webhook, as_json, **flags):
    """Watch URL: capture it on a schedule. Prints the watch's id."""
    if (every is None) == (cron is None):
        raise click.UsageError("Give the schedule with one of --every (such as 1h) or --cron.",
                               ctx)
    schedule = every or cron
    try:
        parse_schedule(schedule, timezone or "UTC", min_interval=0)
    except ScheduleError as exc:  # the server checks how often it may run
        flag = "--timezone" if str(exc).startswith('"timezone"') else "--cron"
        raise click.BadParameter(str(exc), ctx, param_hint=f"'{flag}'") from None
    body = {"url": url, "schedule": schedule, "timezone": timezone, "threshold": threshold,
            "ignore": list(ignore) or None, "webhook_url": webhook,
            "options": options_from(flags, one_viewport=True) or None}
    made = ctx.obj.json("POST", "/watches", ok=(201,),
                        json={key: value for key, value in body.items() if value is not None})
    if as_json:
        return print_json(made)
    click.echo(made["id"])
    click.echo(f"{made['url']}: {made['schedule_words']}, first capture at "
               f"{when(made['next_run_at'])}", err=True)
    click.echo(f"webhook secret (shown once): {made['secret']}", err=True)


@watch.command("ls")
@as_json
@click.pass_obj
def list_watches(client, as_json):
    """Watches, newest first."""
    watches, page = [], 1
    while page:
        body = client.json("GET", "/watches", params={"page": page})
        watches += body["watches"]
        page = body["next_page"]
    if as_json:
        return print_json(watches)
    for item in watches:
        state = "paused" if item["paused"] else "active"
        click.echo(f"{item['id']}  {state}  next {when(item['next_run_at'])}  "
                   f"{item['schedule_words']}  {item['url']}")
    if not watches:
        click.echo("No watches.", err=True)


@watch.command("pause")
@click.argument("watch_id")
@click.pass_obj
def pause_watch(client, watch_id):
    """Stop a watch's captures until it is resumed."""
    client.json("POST", f"/watches/{segment(watch_id)}/pause")
    click.echo(f"watch {watch_id} paused")


@watch.command("resume")
@click.argument("watch_id")
@click.pass_obj
def resume_watch(client, watch_id):
    """Capture a paused watch again, from its next slot."""
    made = client.json("POST", f"/watches/{segment(watch_id)}/resume")
    click.echo(f"watch {watch_id} resumed; next capture at {when(made['next_run_at'])}")


@watch.command("run")
@click.argument("watch_id")
@click.pass_obj
def run_watch(client, watch_id):
    """Capture a watched page now. Prints the bundle's id and page."""
    started = client.json("POST", f"/watches/{segment(watch_id)}/run", ok=(202,))
    click.echo(started["bundle_id"])
    click.echo(client.page_url(started["bundle_id"]))


@watch.command("rm")
@click.argument("watch_id")
@click.option("--files", is_flag=True, help="Delete the images of its captures too.")
@click.pass_obj
def remove_watch(client, watch_id, files):
    """Delete a watch and its history; its captures' bundles stay (--files: not their
    images)."""
    client.send("DELETE", f"/watches/{segment(watch_id)}", ok=(204,),
                params={"files": "1"} if files else None)
    click.echo(f"watch {watch_id} deleted" + (" with its images" if files else ""))
