"""One process of a baseline loop, started by bench.run (two run side by side, like the
two capture worker processes). Work comes from a Redis list so both processes share it the
way Celery shares a queue; results go back through Redis as JSON.

Modes, all with the product's own Chromium flags and options: the BrowserSession comes
from shootflow.workflows.browsers.browser_session(), as in a capture worker process.
  bare    one reused driver (shootflow.capture.Browser): driver.get, title, current URL,
          PNG screenshot, write file. The practical limit of Selenium on this machine.
  bare-noguard  the same with the egress guard (proxy) turned off, to show its cost.
  engine  the product's engine without the queue: BrowserSession.capture (network log,
          status, cookie clearing, recycling after SHOOTFLOW_BROWSER_MAX_CAPTURES), write file.
  naive   a new Browser for every capture, then quit: the driver-per-capture design.
  anatomy one process, timing each step of Browser.capture plus Chromium's navigation
          timing and the Pillow work of the images worker, page by page.
"""
import argparse
import base64
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import redis

from shootflow.capture import Browser, BrowserError, PageError

NAV_TIMING_JS = """
const n = performance.getEntriesByType('navigation')[0];
return n ? {response_end: n.responseEnd, dcl_end: n.domContentLoadedEventEnd,
            load_end: n.loadEventEnd, transfer: n.transferSize,
            resources: performance.getEntriesByType('resource').length} : null;
"""


def product_session():
    """The BrowserSession a capture worker process builds, made by the product's own code
    (shootflow.workflows.browsers) from the same environment, so options always match."""
    from shootflow import create_app
    app = create_app()
    with app.app_context():
        from shootflow.workflows.browsers import browser_session
        return browser_session()


def without_guard(options):
    """The same options with the egress guard off, when this version has one."""
    if "egress_guard" not in getattr(options, "__dataclass_fields__", {}):
        return None
    return dataclasses.replace(options, egress_guard=False)


def bare_capture(browser, url):
    driver = browser.driver
    driver.get(url)
    title = driver.title
    final_url = driver.current_url
    return driver.get_screenshot_as_png(), title, final_url


def write_png(out_dir, n, png):
    path = out_dir / f"{n:05d}.png"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(png)
    os.replace(tmp, path)


def loop(args, r, out_dir):
    session = product_session()
    options = session.options
    if args.mode == "bare-noguard":
        options = without_guard(options)
    key = args.key
    browser = None
    if args.mode in ("bare", "bare-noguard"):
        browser = Browser(options)
        bare_capture(browser, args.warm_url)
    elif args.mode == "engine":
        session.capture(args.warm_url)
    records = []
    try:
        r.rpush(f"{key}:ready", args.worker)
        if not r.blpop([f"{key}:go"], timeout=300):
            raise SystemExit("no go signal within 300 s")
        started = time.monotonic()
        deadline = started + args.budget
        n = 0
        while time.monotonic() < deadline:
            url = r.lpop(f"{key}:work")
            if url is None:
                break
            url = url.decode()
            t0 = time.monotonic()
            error = title = None
            try:
                if browser is not None:
                    png, title, _ = bare_capture(browser, url)
                elif args.mode == "engine":
                    result = session.capture(url)
                    png, title = result.image, result.title
                else:  # naive: a browser per capture
                    fresh = Browser(options)
                    try:
                        result = fresh.capture(url)
                    finally:
                        fresh.quit()
                    png, title = result.image, result.title
                write_png(out_dir, args.worker * 100000 + n, png)
            except (PageError, BrowserError) as exc:
                error = str(exc)
            except Exception as exc:  # a driver fault in the bare loop: start a new one
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                if browser is not None:
                    browser.quit()
                    browser = Browser(options)
            n += 1
            records.append({"url": url, "title": title, "error": error,
                            "ms": round((time.monotonic() - t0) * 1000, 1)})
        ended = time.monotonic()
        # report before quitting, so the quit is outside the measured window (as in a worker)
        r.rpush(f"{key}:results", json.dumps({
            "worker": args.worker, "started": started, "ended": ended, "records": records,
            "timed_out": bool(r.llen(f"{key}:work"))}))
    finally:
        if browser is not None:
            browser.quit()
        session.shutdown()


def timed_driver(driver, add):
    """Time every WebDriver command the engine sends (they all go through execute)."""
    execute = driver.execute

    def timed(command, params=None):
        t0 = time.monotonic()
        try:
            return execute(command, params)
        finally:
            name = command
            if command == "executeCdpCommand" and params:
                name = f"CDP {params.get('cmd')}"
            elif command == "get" and params:
                name = "get about:blank" if params.get("url") == "about:blank" else "get (the page)"
            add(f"WebDriver {name}", time.monotonic() - t0)
    driver.execute = timed


def anatomy(args, r, out_dir):
    """Run the product's Browser.capture page by page, timing each WebDriver command it
    sends, then read Chromium's navigation timing and time the images worker's Pillow work."""
    from shootflow.images import image_size, make_thumbnail
    session = product_session()
    options = session.options
    urls = json.loads(r.get(f"{args.key}:urls"))
    steps = {}
    nav = {"response_end": [], "dcl_end": [], "load_end": [], "resources": []}
    recording = [False]

    def add(name, seconds, force=False):
        if recording[0] or force:
            steps.setdefault(name, []).append(seconds * 1000)

    def alternative_screenshots(driver):
        """Other ways to take the same viewport PNG, timed the same way (not in the total)."""
        for name, params in (("PNG", {"format": "png"}),
                             ("PNG, optimizeForSpeed", {"format": "png", "optimizeForSpeed": True}),
                             ("JPEG q90", {"format": "jpeg", "quality": 90})):
            t0 = time.monotonic()
            data = base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"])
            add(f"alternative: CDP Page.captureScreenshot {name}", time.monotonic() - t0, True)
            steps.setdefault(f"{name} kB", []).append(len(data) / 1000)

    browser = Browser(options)
    try:
        browser.capture(args.warm_url)
        timed_driver(browser.driver, add)
        deadline = time.monotonic() + args.budget
        for n, url in enumerate(urls):
            if time.monotonic() > deadline:
                break
            recording[0] = True
            t0 = time.monotonic()
            try:
                result = browser.capture(url)
            except (PageError, BrowserError) as exc:
                recording[0] = False
                add("failed", 0)
                print(f"anatomy: {url}: {exc}", file=sys.stderr)
                continue
            add("Browser.capture total", time.monotonic() - t0)
            recording[0] = False
            timing = browser.driver.execute_script(NAV_TIMING_JS) or {}  # not recorded
            alternative_screenshots(browser.driver)
            for field in nav:
                if timing.get(field) is not None:
                    nav[field].append(timing[field])
            recording[0] = True
            png = result.image
            p0 = time.monotonic()
            write_png(out_dir, n, png)
            p1 = time.monotonic()
            image_size(png)
            p2 = time.monotonic()
            thumb = make_thumbnail(png)
            p3 = time.monotonic()
            add("[capture worker] write PNG", p1 - p0)
            add("[capture worker] image_size", p2 - p1)
            add("[images worker] make_thumbnail", p3 - p2)
            steps.setdefault("png kB", []).append(len(png) / 1000)
            steps.setdefault("thumbnail kB", []).append(len(thumb) / 1000)
            recording[0] = False
    finally:
        browser.quit()
    recording[0] = True
    for variant, opts in (("", options), (" (guard off)", without_guard(options))):
        if opts is None:
            continue
        for _ in range(args.restarts):
            s0 = time.monotonic()
            fresh = Browser(opts)
            s1 = time.monotonic()
            fresh.quit()
            add(f"Browser() start{variant}", s1 - s0)
            add(f"Browser.quit(){variant}", time.monotonic() - s1)
    r.rpush(f"{args.key}:results", json.dumps({"steps": steps, "nav": nav}))


def submit(args, r, out_dir):
    """What POST /api/v1/bundles does for a big bundle, step by step, in one process: parse
    and check the URLs, create and commit the rows, send the dispatch message; then what the
    worker does after the request has answered: send the canvas from the rows. The broker
    URL given to this process is a Redis database no worker reads; bench.run flushes it."""
    from shootflow import create_app
    from shootflow.extensions import db
    from shootflow.lifecycle import create_bundle, undispatched_of
    from shootflow.urls import parse_url_list
    from shootflow.workflows import send_bundle
    from shootflow.workflows.dispatch import dispatch
    urls = json.loads(r.get(f"{args.key}:urls"))
    app = create_app()
    with app.app_context():
        t0 = time.monotonic()
        parsed = parse_url_list(urls, len(urls))
        t1 = time.monotonic()
        bundle = create_bundle(parsed)
        db.session.commit()
        t2 = time.monotonic()
        send_bundle(bundle.id)
        t3 = time.monotonic()
        dispatch(undispatched_of(bundle.id))
        t4 = time.monotonic()
        db.session.delete(db.session.get(type(bundle), bundle.id))
        db.session.commit()
    r.rpush(f"{args.key}:results", json.dumps({
        "n": len(urls), "parse": t1 - t0, "rows": t2 - t1, "send": t3 - t2,
        "dispatch": t4 - t3}))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("bare", "bare-noguard", "engine", "naive", "anatomy",
                                           "submit"), required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--warm-url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--budget", type=float, default=600, help="seconds of work at most")
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args(argv)
    r = redis.Redis.from_url(args.redis, socket_timeout=None)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        {"anatomy": anatomy, "submit": submit}.get(args.mode, loop)(args, r, out_dir)
    except BaseException as exc:
        r.rpush(f"{args.key}:results", json.dumps({"worker": args.worker, "failed": repr(exc)}))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

