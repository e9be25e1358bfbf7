"""The `shootflow` command: capture, follow and export bundles (watches: watching.py) on a
shootflow server over its JSON API, from any machine. Results go to standard output, progress
and messages to standard error; a refusal or an unreachable server is one line and exit 1."""
import re
import time
from pathlib import Path

import click

from ..states import FINAL_BUNDLE_STATES, FINAL_SHOT_STATES, BundleState, ShotState
from .flags import capture_flags, options_from
from .http import Client, ClientError, segment
from .output import as_json, print_json, when
from .progress import bytes_meter, count_meter
from .watching import watch

DEFAULT_SERVER = "http://127.0.0.1:5000"
POLL_SECONDS = 0.5      # as often as the bundle page asks; an unchanged bundle answers 304
API_PAGE = 200          # the most bundles GET /api/v1/bundles gives at once
SHOTS_FAILED = 3        # exit status of a capture that ended with failed or cancelled shots
INTERRUPTED = 130


class Commands(click.Group):
    """A ClientError met by any command becomes click's one-line error, with exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None


def _server(ctx, param, value):
    if not re.match(r"^https?://[^/\s]+", value or ""):
        raise click.BadParameter(f"{value!r} is not a server address such as "
                                 f"{DEFAULT_SERVER}", ctx, param)
    return value


def summary(status):
    """A bundle's counts in words: "3/10 done, 1 failed"."""
    counts = status["counts"]
    words = [f"{counts['done']}/{status['total']} done"]
    words += [f"{counts[state]} {state}" for state in ("failed", "cancelled") if counts[state]]
    return ", ".join(words)


def _finished(status):
    return sum(status["counts"][state] for state in FINAL_SHOT_STATES)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", envvar="SHOOTFLOW_SERVER", default=DEFAULT_SERVER, show_default=True,
              show_envvar=True, callback=_server, help="The shootflow server's address.")
@click.option("--token", envvar="SHOOTFLOW_TOKEN", show_envvar=True,
              help="An API token (flask users token NAME), when the server has accounts on.")
@click.version_option(package_name="shootflow")
@click.pass_context
def cli(ctx, server, token):
    """Screenshots from a shootflow server: capture pages, follow and export bundles,
    watch pages on a schedule."""
    ctx.obj = Client(server, token)


# Bundles ------------------------------------------------------------------------------------

def _url_lines(urls, url_file):
    lines = list(urls)
    if url_file is not None:
        lines += [line.strip() for line in url_file
                  if line.strip() and not line.lstrip().startswith("#")]
    return lines


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("-f", "--file", "url_file", type=click.File(encoding="utf-8"),
              help="Read URLs from FILE, one a line (# starts a comment); - reads stdin.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the images [default: ./BUNDLE-ID].")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow the bundle and download its images, or print its id and go.")
@capture_flags()
@click.pass_context
def capture(ctx, urls, url_file, out, wait, **flags):
    """Capture URLs: submit them as one bundle, show its progress, download the images.

    Prints each image's path. Exit status 3 if any shot failed (each is named with its
    error), 1 if the server refused or could not be reached."""
    client = ctx.obj
    lines = _url_lines(urls, url_file)
    if not lines:
        raise click.UsageError("Give at least one URL, or -f FILE with one URL a line.", ctx)
    body = {"urls": lines}
    options = options_from(flags)
    if options:
        body["options"] = options
    bundle_id = client.json("POST", "/bundles", ok=(202,), json=body)["id"]
    page = client.page_url(bundle_id)
    if not wait:
        click.echo(bundle_id)
        click.echo(page)
        return
    click.echo(f"bundle {bundle_id}: {page}", err=True)
    try:
        status = follow(client, bundle_id)
    except KeyboardInterrupt:
        click.echo(f"\nStopped waiting; the bundle goes on: {page}", err=True)
        ctx.exit(INTERRUPTED)
    folder = out or Path(bundle_id)
    shots = list(client.items(f"/bundles/{segment(bundle_id)}/shots", "shots", {"limit": 1000}))
    written = save_images(client, shots, folder)
    click.echo(f"{len(written)} of {len(shots)} images written to {folder}", err=True)
    for shot in shots:
        if shot["state"] in FINAL_SHOT_STATES - {ShotState.DONE}:
            reason = f": {shot['error']}" if shot["error"] else ""
            click.echo(f"{shot['state']}: {shot['url']}{reason}", err=True)
    if status["state"] != BundleState.DONE:
        ctx.exit(SHOTS_FAILED)


def follow(client, bundle_id):
    """Poll a bundle's status, showing its progress, until it is finished; its last status."""
    path, etag, status = f"/bundles/{segment(bundle_id)}/status", None, None
    with count_meter() as meter:
        while True:
            body, etag = client.poll(path, etag)
            if body is not None:
                status = body
                meter.update(_finished(status), status["total"],
                             f"{status['state']}: {summary(status)}")
            if status["state"] in FINAL_BUNDLE_STATES:
                return status
            time.sleep(POLL_SECONDS)


def save_images(client, shots, folder):
    """Download each captured image into folder, named as in the bundle's ZIP
    (<n>-<shot id>.<ext>), and check it against the shot's sha256; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    captured = [(n, shot) for n, shot in enumerate(shots, start=1) if shot["image_url"]]
    written = []
    # No plain lines: standard output lists each one already.
    with count_meter(plain=None, total=len(captured), text="images") as meter:
        for n, shot in captured:
            extension = shot["image_url"].rsplit(".", 1)[-1]
            path = folder / f"{n:03d}-{shot['id']}.{extension}"
            _, digest = client.download(client.url(shot["image_url"]), path)
            if shot["sha256"] and digest != shot["sha256"]:
                path.unlink()
                raise ClientError(f"the image of {shot['url']} changed while it was "
                                  "downloaded (its SHA-256 does not match); try again")
            written.append(path)
            click.echo(path)
            meter.update(len(written), len(captured), "images")
    return written


@cli.command()
@click.argument("bundle_id")
@as_json
@click.pass_obj
def status(client, bundle_id, as_json):
    """A bundle's state and counts."""
    body = client.json("GET", f"/bundles/{segment(bundle_id)}/status")
    if as_json:
        return print_json(body)
    click.echo(f"{body['id']}  {body['state']}  {summary(body)}")
    click.echo(f"created {when(body['created_at'])}, finished {when(body['finished_at'])}")
    click.echo(client.page_url(body["id"]))


@cli.command("ls")
@click.option("--state", type=click.Choice([state.value for state in BundleState]),
              help="Only bundles in this state.")
@click.option("--search", metavar="TEXT", help="Only bundles with a URL or title containing "
                                               "TEXT (any case).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many bundles.")
@as_json
@click.pass_obj
def list_bundles(client, state, search, limit, as_json):
    """Bundles, newest first."""
    params = {"limit": min(limit, API_PAGE)}
    if state:
        params["state"] = state
    if search:
        params["q"] = search
    bundles = list(client.items("/bundles", "bundles", params, limit))
    if as_json:
        return print_json(bundles)
    for bundle in bundles:
        what = bundle["title"] or next(iter(bundle["urls_preview"]), "")
        click.echo(f"{bundle['id']}  {bundle['state']:<9}  {summary(bundle):<24}  "
                   f"{when(bundle['created_at'])}  {what}")
    if not bundles:
        click.echo("No bundles.", err=True)


@cli.command()
@click.argument("bundle_id")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write [default: ./shootflow-BUNDLE-ID.zip].")
@click.pass_obj
def export(client, bundle_id, zip_path):
    """Download a bundle as a ZIP: images, thumbnails, manifest and report."""
    path = zip_path or Path(f"shootflow-{bundle_id}.zip")
    with bytes_meter() as meter:
        client.download(f"/bundles/{segment(bundle_id)}/export.zip", path,
                        lambda done, total: meter.update(done, total, path.name))
    click.echo(path)


cli.add_command(watch)


def main():
    cli(prog_name="shootflow")


if __name__ == "__main__":
    main()
