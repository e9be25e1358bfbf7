"""Full-page captures of long pages: shootflow's engine beside shot-scraper, with checks.

    .venv/bin/python -m bench.fullpage                 # warm-up + 5 runs, guard on and off
    .venv/bin/python -m bench.fullpage --runs 3 --guard on --keep /tmp/fullpage

The pages are bench.corpus.LONG_PAGES (3,000, 10,000 and 25,000 px, and 6,000 px with two
lazy images at its bottom), served on 127.0.0.1 from this process. Every capture gets a URL
of its own (?r=), so no lazy image comes from a cache. Within each round every tool takes
each page in turn, so the machine's load falls on all of them alike.

shootflow: one Browser per egress-guard setting, Browser.capture with {"full_page": true}
(and max_height 65536 for the 25,000 px page), then end_capture(). shot-scraper: its own
take_shot() (what `shot-scraper URL --width 1280` runs), in a new Playwright context per
capture of one Chromium launched with executable_path=/usr/bin/chromium, in a separate venv
(--venv, made with pip if missing; nothing downloads a browser). Figures are medians over
the runs; every picture is checked against the bands the page is made of.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
SHOT_SCRAPER = ("shot-scraper==1.12", "playwright==1.65.2")
ROOT = Path(__file__).resolve().parent.parent


def shot_scraper_worker():
    """Runs in the shot-scraper venv: one Chromium; a JSON line in (url, out), one out (ms)."""
    from importlib.metadata import version

    from click import ClickException
    from playwright.sync_api import Error, sync_playwright
    from shot_scraper.cli import take_shot
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        print(json.dumps({"chromium": browser.version, "shot-scraper": version("shot-scraper"),
                          "playwright": version("playwright")}), flush=True)
        for line in sys.stdin:
            job = json.loads(line)
            started = time.monotonic()
            try:
                # What _browser_context() makes without options: a plain context.
                context = browser.new_context()
                try:
                    data = take_shot(context, {"url": job["url"], "width": 1280},
                                     return_bytes=True, silent=True)
                finally:
                    context.close()
            except (Error, ClickException) as exc:  # reported in the table, not fatal
                print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:300]}), flush=True)
                continue
            ms = (time.monotonic() - started) * 1000
            Path(job["out"]).write_bytes(data)
            print(json.dumps({"ms": ms}), flush=True)
        browser.close()


def ensure_venv(venv):
    """The shot-scraper venv's python, made and filled from PyPI if it is not there yet."""
    python = Path(venv) / "bin" / "python"
    if subprocess.run([str(python), "-c", "import shot_scraper, playwright"],
                      check=False, capture_output=True).returncode != 0:
        print(f"making {venv} with {' '.join(SHOT_SCRAPER)} (once)", flush=True)
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                        str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *SHOT_SCRAPER], check=True)
    return python


class ShotScraper:
    """The worker process above, driven one capture at a time."""

    def __init__(self, python):
        self.process = subprocess.Popen(
            [str(python), "-m", "bench.fullpage", "--worker"], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.versions = json.loads(self.process.stdout.readline() or "{}")
        if not self.versions:
            raise RuntimeError("the shot-scraper worker did not start (see its error above)")

    def capture(self, url, out):
        self.process.stdin.write(json.dumps({"url": url, "out": str(out)}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the shot-scraper worker died (see its error above)")
        answer = json.loads(line)
        return answer.get("ms"), answer.get("error"), {}

    def stop(self):
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Shootflow:
    """One shootflow Browser; capture() as the capture worker does it."""

    def __init__(self, guard):
        from shootflow.capture import Browser, BrowserOptions
        self.browser = Browser(BrowserOptions(allowed_networks=("127.0.0.1/32",)) if guard
                               else BrowserOptions(egress_guard=False))

    def capture(self, url, out, raw_options):
        from shootflow.capture import BrowserError, CaptureOptions, PageError, read_options
        started = time.monotonic()
        try:
            result = self.browser.capture(url, "bench",
                                          CaptureOptions.merged(read_options(raw_options)))
            self.browser.end_capture()
        except (PageError, BrowserError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300], {}
        ms = (time.monotonic() - started) * 1000
        out.write_bytes(result.image)
        # elapsed_ms less the timings: what none of them counts (the scroll-through)
        rest = result.elapsed_ms - sum(result.timings.values())
        return ms, None, {"timings": {**result.timings, "rest": rest},
                          "truncated": result.truncated,
                          "size": (result.width, result.height)}

    def scroll_height(self):
        return self.browser.driver.execute_script(
            "return document.documentElement.scrollHeight")

    def stop(self):
        self.browser.quit()


def cases(guards):
    """(page, label, tool key, shootflow options) for every row of the table."""
    from bench.corpus import LONG_PAGES
    rows = []
    for page in LONG_PAGES:
        for guard in guards:
            label = f"shootflow, guard {guard}"
            rows.append((page, label, guard, {"full_page": True}))
            if LONG_PAGES[page] > 16384:
                rows.append((page, f"{label}, max_height 65536", guard,
                             {"full_page": True, "max_height": 65536}))
        rows.append((page, "shot-scraper", "shot-scraper", None))
    return rows


def run(args, work):
    from bench.corpus import CorpusServer, LongPages
    from bench.procs import free_port
    server = CorpusServer(free_port(), LongPages())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/long"
    guards = ["on", "off"] if args.guard == "both" else [args.guard]
    tools = {}
    try:
        tools["shot-scraper"] = ShotScraper(ensure_venv(args.venv))
        for guard in guards:
            tools[guard] = Shootflow(guard == "on")
        rows = cases(guards)
        records = {n: [] for n in range(len(rows))}
        heights = {}
        for rnd in range(args.warm + args.runs):
            for n, (page, label, key, raw) in enumerate(rows):
                url = f"{base}/{page}.html?r={rnd}-{n}"
                out = work / f"{page}-{n}-{rnd}.png"
                tool = tools[key]
                ms, error, extra = (tool.capture(url, out) if raw is None
                                    else tool.capture(url, out, raw))
                if raw is not None and page not in heights and error is None:
                    heights[page] = tool.scroll_height()
                if rnd >= args.warm:
                    records[n].append({"ms": ms, "error": error, "out": out, **extra})
            print(f"round {rnd + 1}/{args.warm + args.runs} done"
                  f"{' (warm-up)' if rnd < args.warm else ''}", flush=True)
        return rows, [summarise(page, records[n]) for n, (page, *_rest) in enumerate(rows)], \
            heights, tools["shot-scraper"].versions
    finally:
        for tool in tools.values():
            tool.stop()
        server.shutdown()
        server.server_close()


SAMPLE_X = 1150  # right of every band's text and image


def read_band(pixel):
    """The band whose colour pixel is (within 10 a channel), "blank" for white, or "other"."""
    from bench.corpus import band_colour
    for index in range(64):
        if max(abs(a - b) for a, b in zip(pixel, band_colour(index))) <= 10:
            return index
    return "blank" if min(pixel) >= 245 else "other"


def check(page, path):
    """What one picture of page shows at the bands' known offsets."""
    from PIL import Image

    from bench.corpus import BAND, LAZY_BOX, LAZY_IMAGES, LONG_PAGES, lazy_bands
    with Image.open(path) as image:
        image = image.convert("RGB")
    width, height = image.size
    bands = LONG_PAGES[page] // BAND
    wrong, missing = [], 0
    for index in range(bands):
        for y in (index * BAND + 30, index * BAND + BAND // 2, index * BAND + BAND - 30):
            seen = read_band(image.getpixel((SAMPLE_X, y))) if y < height else None
            if seen is None:
                missing += 1
            elif seen != index:
                wrong.append((y, index, seen))
    lazy = {}
    for kind, index in lazy_bands(page).items():
        x, y = LAZY_BOX[0] + LAZY_BOX[2] // 2, index * BAND + LAZY_BOX[1] + LAZY_BOX[3] // 2
        lazy[kind] = y < height and max(
            abs(a - b) for a, b in zip(image.getpixel((x, y)), LAZY_IMAGES[kind])) <= 10
    bottom = height == LONG_PAGES[page] and not any(i == bands - 1 for _, i, _ in wrong)
    return {"size": (width, height), "bytes": path.stat().st_size, "wrong": wrong,
            "missing": missing, "samples": 3 * bands, "bottom": bottom, "lazy": lazy,
            "height_ok": height == LONG_PAGES[page]}


def describe(found):
    """The picture's faults in a few words ("" when it shows the page as it is)."""
    from bench.corpus import BAND
    faults = []
    if found["wrong"]:
        y, index, seen = found["wrong"][0]
        shifts = sorted({(index - s) * BAND for _, index, s in found["wrong"]
                         if isinstance(s, int)})
        what = (f"band {seen} (repeats content {(index - seen) * BAND:,} px higher)"
                if isinstance(seen, int) else seen)
        faults.append(f"{len(found['wrong'])} of {found['samples']} samples wrong, the first "
                      f"at y={y:,}: {what}" + (f"; shifts {shifts}" if len(shifts) > 1 else ""))
    if found["missing"]:
        faults.append(f"picture ends at {found['size'][1]:,} px: "
                      f"{found['missing']} samples below it missing")
    faults += [f"{kind} lazy image not loaded" for kind, ok in found["lazy"].items() if not ok]
    return "; ".join(faults)


def summarise(page, records):
    """One table row's figures from its runs."""
    done = [r for r in records if r["error"] is None]
    found = [check(page, r["out"]) for r in done]
    faults = sorted({describe(f) for f in found} - {""}
                    | {f"says it is {r['size'][0]}×{r['size'][1]:,}, the picture is "
                       f"{f['size'][0]}×{f['size'][1]:,}" for r, f in zip(done, found)
                       if r.get("size", f["size"]) != f["size"]})
    return {"runs": len(records), "errors": sorted({r["error"] for r in records} - {None}),
            "ms": [r["ms"] for r in done], "found": found, "faults": faults,
            "clean": sum(not describe(f) for f in found),
            "truncated": [r.get("truncated") for r in done],
            "timings": [r["timings"] for r in done if r.get("timings")]}


def _median(values, fmt="{:,.0f}"):
    return fmt.format(statistics.median(values)) if values else "-"


def report(args, rows, results, heights, versions, load, load_end):
    from bench.corpus import LONG_PAGES
    lines = [f"#### Full-page captures, {args.runs} runs after {args.warm} warm-up round(s)", "",
             (f"Chromium {versions.get('chromium')}; shot-scraper "
              f"{versions.get('shot-scraper')} (Playwright {versions.get('playwright')}, "
              f"executable_path={CHROMIUM}); {os.cpu_count()} cores; load average at start "
              f"{load[0]:.2f}, at the end {load_end[0]:.2f}"), "",
             ("| page | tool | wall ms p50 (min–max) | picture px | PNG bytes p50 "
              "| height = page's | band samples right | bottom band | lazy images loaded "
              "| flagged truncated | runs faultless |"),
             "|---|---|---:|---:|---:|---|---:|---|---|---|---:|"]
    for (page, label, _key, _raw), res in zip(rows, results):
        found, ms = res["found"], res["ms"]
        if not found:
            lines.append(f"| {page} | {label} | failed: {'; '.join(res['errors'])} |"
                         + " |" * 8)
            continue
        sizes = sorted({f"{w}×{h:,}" for w, h in (f["size"] for f in found)})
        right = sorted({f"{f['samples'] - len(f['wrong']) - f['missing']}/{f['samples']}"
                        for f in found})
        lazy = ", ".join(f"{kind} {sum(f['lazy'][kind] for f in found)}/{len(found)}"
                         for kind in found[0]["lazy"]) or "–"
        height = ("yes" if all(f["height_ok"] for f in found) else
                  f"no ({' / '.join(sizes)} of {LONG_PAGES[page]:,})")
        truncated = ("–" if label == "shot-scraper" else
                     " / ".join(sorted({"yes" if t else "no" for t in res["truncated"]})))
        lines.append(
            f"| {page} | {label} | {_median(ms)} ({min(ms):,.0f}–{max(ms):,.0f}) "
            f"| {' / '.join(sizes)} | {_median([f['bytes'] for f in found])} | {height} "
            f"| {' / '.join(right)} | {'yes' if all(f['bottom'] for f in found) else 'no'} "
            f"| {lazy} | {truncated} | {res['clean']}/{res['runs']} |")
    lines += ["", "Wall ms: shootflow Browser.capture + end_capture(); shot-scraper a new "
              "context + take_shot() + closing the context, with its Chromium already up. "
              "Samples: three pixels per 500 px band at known offsets; a sample below the "
              "picture's end counts as not right. Page heights as Chromium measured them: "
              + ", ".join(f"{page} {h:,} px" for page, h in heights.items()) + ".", "",
              "shootflow's own timings, p50 ms:", "",
              ("| page | tool | navigation | ready | capture | encode "
               "| elapsed_ms less these four |"), "|---|---|---:|---:|---:|---:|---:|"]
    for (page, label, _key, _raw), res in zip(rows, results):
        if res["timings"]:
            lines.append(f"| {page} | {label} | " + " | ".join(
                _median([t[k] for t in res["timings"]]) for k in
                ("navigation", "ready", "capture", "encode", "rest")) + " |")
    faults = [f"- {page}, {label}: {fault}" for (page, label, *_rest), res in zip(rows, results)
              for fault in res["faults"] + res["errors"]]
    return "\n".join(lines + ["", "Faults seen (each distinct one once):", ""]
                     + (faults or ["- none"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=1, help="warm-up rounds, not counted")
    parser.add_argument("--guard", choices=("both", "on", "off"), default="both",
                        help="shootflow's egress guard")
    parser.add_argument("--venv", default="/tmp/shot-scraper-venv",
                        help="where shot-scraper is (made if missing)")
    parser.add_argument("--keep", help="keep every picture in this folder")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return shot_scraper_worker()
    load = os.getloadavg()
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
        rows, results, heights, versions = run(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="fullpage-") as tmp:
            rows, results, heights, versions = run(args, Path(tmp))
    print(report(args, rows, results, heights, versions, load, os.getloadavg()))


if __name__ == "__main__":
    sys.exit(main())
