"""The profile: py-spy (--idle, 100 Hz) on the capture and images pool processes during a
120-page bundle, and where each main thread's wall time goes."""
import subprocess
from collections import Counter

import psutil

from bench import corpus
from bench.bundle import run_bundle
from bench.stack import BIN
from shootflow.capture.processes import GONE, read

SECONDS = 25


class Profile:
    """py-spy on the capture and images pool processes while a bundle runs."""

    def __init__(self, work, seconds):
        self.work, self.seconds = work, seconds
        self.spies = []

    def start(self, stack):
        targets = []
        for name, root in (("capture", stack.capture.pid), ("images", stack.images.pid)):
            try:
                kids = psutil.Process(root).children()
            except GONE:
                kids = []
            targets += [(name, kid.pid) for kid in kids
                        if any(word in (read(kid, "name") or "") for word in ("python", "celery"))]
        for name, pid in targets:
            out = self.work / f"pyspy-{name}-{pid}.txt"
            self.spies.append((name, pid, out, subprocess.Popen(
                [str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration",
                 str(self.seconds), "--rate", "100", "--idle", "--format", "raw",
                 "--output", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))

    def stop(self):
        for _, _, _, proc in self.spies:
            try:
                proc.wait(self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()

    # first match wins, tested against the whole stack of a main-thread sample
    RULES = (
        ("idle: waiting for the next task", None),
        ("Chromium start (recycle)", ("Browser.__init__",)),
        ("Chromium quit (recycle)", ("Browser.quit",)),
        ("Browser.capture: navigations (driver.get)", ("WebDriver.get (",)),
        ("Browser.capture: screenshot (PNG)", ("get_screenshot_as_png", "_screenshot")),
        ("Browser.capture: network log + frame tree", ("get_log", "_main_document")),
        ("Browser.capture: other WebDriver calls", ("Browser.capture",)),
        ("make_thumbnail (Pillow)", ("make_thumbnail",)),
        ("image_size (PNG header)", ("image_size",)),
        ("image files (MediaStore read/write)", ("MediaStore",)),
        ("settle (is the bundle over?)", ("settle (shootflow",)),
        ("heartbeat (UPDATE + commit)", ("heartbeat (shootflow",)),
        ("claim_shot (UPDATE + commit)", ("claim_shot",)),
        ("finalize_bundle (the chord callback)", ("finalize_bundle (shootflow",)),
        ("dispatch (send captures from the rows)", ("dispatch (shootflow",
                                                    "dispatch_bundle (shootflow")),
        ("other database work (SQLAlchemy)", ("sqlalchemy",)),
        ("Celery: send next task, store result, chord counter",
         ("_dispatch_callbacks_and_chain", "mark_as_done", "store_result",
          "on_chord_part_return", "apply_async")),
        ("capture watch thread (start/join)", ("watch_capture",)),
        ("other", ()),
    )

    def label(self, stack_text):
        """The first rule that a main-thread sample's stack matches."""
        for label, needles in self.RULES:
            if needles is None:
                if "trace_task" not in stack_text:
                    return label
            elif not needles or any(n in stack_text for n in needles):
                return label

    def rows(self):
        """Per kind of pool process: share of the main thread's wall time in each place."""
        per_kind = {}
        for name, _, path, _ in self.spies:
            if not path.exists():
                continue
            counts = per_kind.setdefault(name, [Counter(), 0])
            counts[1] += 1
            for line in path.read_text(errors="replace").splitlines():
                stack_text, _, num = line.rpartition(" ")
                if not num.isdigit() or not stack_text.startswith("<module>"):
                    continue  # another thread (egress proxy, cancel watch): not the task's
                counts[0][self.label(stack_text)] += int(num)
        rows = []
        for name, (counts, nprocs) in per_kind.items():
            total = sum(counts.values()) or 1
            for label, count in counts.most_common():
                if count / total >= 0.005:
                    rows.append([f"{name} ({nprocs} process{'es' if nprocs > 1 else ''})",
                                 label, count / total * 100])
        return rows


def section(report, stack):
    prof = Profile(stack.work, seconds=SECONDS)
    run_bundle(stack, corpus.page_urls(stack.pages, 120, variant_base=700), report,
               "profiled N=120 (py-spy attached; not a measurement)", probe=False,
               profile=prof)
    rows = prof.rows() or [["–", "py-spy recorded nothing: it needs ptrace permission "
                                  "(root, or kernel.yama.ptrace_scope=0)", None]]
    report.table("Where the worker pool processes spend their time (py-spy --idle, "
                 f"{SECONDS} s of a 120-page bundle; % of the main thread's wall time)",
                 ["pool process", "where", "% of time"], rows)
    return rows
