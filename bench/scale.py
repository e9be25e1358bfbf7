"""Scale: one bundle each of N = 10, N and (with --full) 1000 pages through the whole stack,
each with one person watching its page: throughput, peak memory of the workers and their
browsers, the bundle page's times, and a check that nothing was lost or duplicated."""
from bench import corpus
from bench.bundle import run_bundle


def section(args, report, stack):
    """The figures of each bundle, smallest first."""
    sizes = [10, args.n] + ([1000] if args.full else [])
    scale = []
    for k, size in enumerate(sizes):
        scale.append(run_bundle(stack, corpus.page_urls(stack.pages, size,
                                                        variant_base=300 + 10 * k),
                                report, f"scale N={size}", timeout=max(600, size * 4)))
    report.table("Scale: whole stack per bundle size",
                 ["N", "wall s", "pages/s", "POST ms", "capture slots busy %",
                  "capture task p50 ms", "workers+browsers peak PSS MB", "peak RSS MB",
                  "processes", "bundle page p95 ms (htmx poll)",
                  "p95 ms (next 50 cards)", "bundle page p95 ms (full)",
                  "full max ms", "full page p50 ms once finished", "lost", "duplicated",
                  "others' load (cores)"], [row(r) for r in scale],
                 note="One bundle per size, each with one person watching its page. "
                      "Memory covers both Celery workers and every chromedriver/Chromium "
                      "process under them (PSS shares shared pages out fairly; RSS counts "
                      "them in every process). The bundle page is requested every 0.5 s "
                      "during the run, in turn: the full page (its first 50 cards), the "
                      "htmx poll, the next 50 cards somewhere down the list (what "
                      "scrolling asks for), the poll again. Capture slots busy = time inside "
                      "capture tasks ÷ (2 × wall).")
    return scale


def duplicated(r):
    return r["check"]["dup_rows"] + r["check"]["dup_captures"] + r["check"]["dup_process"]


def row(r):
    web, memory = r["web"], r["memory"]
    return [r["n"], r["wall"], r["pps"], r["post_ms"], r["capture_slot_use"] * 100,
            r["phases"]["capture_p50_ms"], memory["peak_pss_mb"], memory["peak_rss_mb"],
            memory["peak_procs"], web["htmx"]["p95"], web["more"]["p95"], web["full"]["p95"],
            web["full"]["max"], web["quiet_full_p50"], r["check"]["lost"], duplicated(r),
            r["others_cores"]]
