"""The report of a control-plane run: its tables, and what saturated first."""
from bench.controlplane import QUEUES, ROLES
from bench.report import Report


def over_time(timeline, queue):
    """The queue's length at 0%, 10% … 100% of the run (capture: all three lanes)."""
    names = QUEUES[:3] if queue == "capture" else (queue,)
    picks = [timeline[round(k * (len(timeline) - 1) / 10)] for k in range(11)]
    return [sum(sample[name] or 0 for name in names) for sample in picks]


def verdict(run):
    """What the figures of one run say saturated first, in one line."""
    cpu, wall = run["cpu"], run["cpu"]["wall"]
    parts = []
    busy = cpu["machine_busy_s"] / wall / cpu["cores"]
    if busy >= 0.9:
        parts.append(f"the machine's {cpu['cores']} cores were {busy:.0%} busy")
    full = [f"{role} ({cpu['busiest_process_s'][role] / wall:.2f} cores)" for role in ROLES
            if cpu["busiest_process_s"][role] / wall >= 0.85]
    if full:
        parts.append("a single process near one full core: " + ", ".join(full))
    queues = run["queues"]
    capture = max(queues.get(q, {}).get("mean", 0) for q in QUEUES[:3])
    grew = max((("capture lanes", capture), ("images", queues["images"]["mean"]),
                ("default (dispatch, settle)", queues["default"]["mean"])),
               key=lambda item: item[1])
    if grew[1] >= 1:
        parts.append(f"the queue that waited longest was {grew[0]} (mean {grew[1]:.0f})")
    captures = round((run["capture_tasks_per_shot"] - 1) * run["shots"])
    thumbnails = round((run["process_tasks_per_shot"] - 1) * run["shots"])
    if captures > 0 or thumbnails > 0:
        parts.append(f"{captures} capture and {thumbnails} thumbnail tasks ran more than once "
                     f"per shot (the watchdog sent {run['watchdog_resent']} captures)")
    return "; ".join(parts) or "nothing saturated"


def report(runs):
    """Every table of the runs, printed."""
    out = Report(digits=1)
    throughput_table(out, runs)
    cpu_tables(out, runs)
    queue_tables(out, runs)
    out.table("Per shot: Redis commands (with RabbitMQ: the result store's), Redis memory kept "
              "(results live 24 h), database commits, media bytes",
              ["images", "load", "Redis commands", "Redis keys kept", "Redis bytes kept",
               "DB commits", "PNG kB", "thumbnail kB"],
              [[r["images"], r["label"], r["broker_commands_per_shot"],
                r["broker_keys_per_shot"], r["broker_memory_per_shot"], r["db_commits_per_shot"],
                r["image_bytes_per_shot"] / 1000, r["thumbnail_bytes_per_shot"] / 1000]
               for r in runs])
    out.table("Queue lengths over each run, at every tenth of it (capture = its three lanes)",
              ["images", "load", "queue", *[f"{k * 10}%" for k in range(11)]],
              [[r["images"], r["label"], queue, *over_time(r["timeline"], queue)]
               for r in runs for queue in ("capture", "images", "default")])
    out.out("\n### What saturated first\n")
    for r in runs:
        out.out(f"- images {r['images']}, {r['label']}: {verdict(r)}")


def throughput_table(out, runs):
    out.table("Throughput (submit → dispatch → capture (stand-in) → thumbnail → settled)",
              ["images processes", "load", "shots", "wall s", "shots/s end to end",
               "shots/s steady (10–90%)", "queues empty s later", "POST p50 ms",
               "POST max ms", "not done", "capture tasks per shot",
               "thumbnail tasks per shot", "captures the watchdog sent", "log errors"],
              [[r["images"], r["label"], r["shots"], r["wall_s"], r["shots_per_s"],
                r["steady_shots_per_s"], r["drain_s"], r["post_ms"]["p50"],
                r["post_ms"]["max"], r["shots"] - r["done"], r["capture_tasks_per_shot"],
                r["process_tasks_per_shot"], r["watchdog_resent"], r["log_errors"]]
               for r in runs])


def cpu_tables(out, runs):
    def cores(r, role):
        return r["cpu"]["cpu_s"][role] / r["cpu"]["wall"] if r["cpu"]["measured"][role] else None

    def c(value):  # cores, to two places
        return None if value is None else f"{value:.2f}"

    out.table("CPU, in cores (CPU seconds ÷ wall seconds); busiest = its busiest single process",
              ["images", "load", *ROLES, "busiest images process", "busiest broker process",
               "machine busy", "others"],
              [[r["images"], r["label"], *[c(cores(r, role)) for role in ROLES],
                c(r["cpu"]["busiest_process_s"]["images"] / r["cpu"]["wall"]),
                c(r["cpu"]["busiest_process_s"]["broker"] / r["cpu"]["wall"]),
                c(r["cpu"]["machine_busy_s"] / r["cpu"]["wall"]),
                c(r["cpu"]["others_s"] / r["cpu"]["wall"])] for r in runs])
    out.table("CPU ms per shot, by part",
              ["images", "load", *ROLES, "all of shootflow"],
              [[r["images"], r["label"],
                *[(r["cpu"]["cpu_s"][role] * 1000 / r["shots"]) if r["cpu"]["measured"][role]
                  else None for role in ROLES],
                sum(r["cpu"]["cpu_s"][role] for role in ROLES if role != "bench") * 1000
                / r["shots"]] for r in runs])


def queue_tables(out, runs):
    def lanes(r, key, combine):
        return combine(r["queues"].get(q, {}).get(key, 0) for q in QUEUES[:3])

    out.table("Queues (messages waiting, sampled every 0.5 s) and where a shot waited (ms, p50)",
              ["images", "load", "capture lanes max", "mean", "images max", "mean",
               "default max", "unacked max", "queued → sent", "sent → capture starts",
               "capture task", "captured → done", "queued → done p50", "p95"],
              [[r["images"], r["label"], lanes(r, "max", max), lanes(r, "mean", sum),
                r["queues"]["images"]["max"], r["queues"]["images"]["mean"],
                r["queues"]["default"]["max"], r["queues"].get("unacked", {}).get("max"),
                *[r["phases_ms"][phase]["p50"] for phase in (
                    "queued_to_dispatched", "dispatched_to_started", "started_to_captured",
                    "captured_to_done", "queued_to_done")],
                r["phases_ms"]["queued_to_done"]["p95"]] for r in runs])
