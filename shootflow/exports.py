"""A bundle taken away: its manifest (JSON and CSV), a self-contained HTML report, and a ZIP of
every image, written as it is sent so that a 1,000-shot bundle starts downloading at once and
the web process never holds more than one read buffer of it."""
import base64
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from zipstream import ZipStream

from .extensions import db
from .lifecycle import options_for
from .models import Progress, Shot, utcnow
from .storage import EXTENSIONS

# Each shot's facts, in this order: the keys of manifest.json's rows and manifest.csv's columns.
COLUMNS = ("id", "position", "url", "final_url", "state", "title", "http_status", "error",
           "error_kind", "format", "width", "height", "bytes", "sha256", "truncated",
           "captured_at", "started_at", "finished_at", "image", "thumbnail", "options")
CHUNK = 64 * 1024


def _time(value):
    return value.isoformat() + "Z" if value else None


@dataclass(frozen=True)
class Entry:
    """One shot of an export: its manifest row, and its files on disk (None: none kept)."""
    row: dict
    image_file: Path | None
    thumbnail_file: Path | None

    def thumbnail_data(self):
        """The thumbnail as a data: URI, for a report that must open without its folder."""
        return "data:image/jpeg;base64," + base64.b64encode(
            self.thumbnail_file.read_bytes()).decode("ascii")


@dataclass(frozen=True)
class Export:
    """A bundle as it was when the export began: the header and one Entry per shot."""
    header: dict
    entries: list


def _file(store, relative):
    """The absolute path of a stored file, or None when the row names none or it is gone."""
    if not relative:
        return None
    path = store.absolute(relative)
    return path if path.is_file() else None


def _entry(shot, number, store, config):
    image, thumbnail = _file(store, shot.image_path), _file(store, shot.thumbnail_path)
    name = f"{number}-{shot.id}"
    row = {
        "id": shot.id, "position": shot.position, "url": shot.url,
        "final_url": shot.final_url, "state": shot.state, "title": shot.title,
        "http_status": shot.http_status, "error": shot.error, "error_kind": shot.error_kind,
        "format": shot.format, "width": shot.width, "height": shot.height,
        "bytes": shot.image_bytes, "sha256": shot.sha256, "truncated": shot.truncated,
        "captured_at": _time(shot.captured_at), "started_at": _time(shot.started_at),
        "finished_at": _time(shot.finished_at),
        "image": f"images/{name}.{EXTENSIONS[shot.format or 'png']}" if image else None,
        "thumbnail": f"thumbnails/{name}.jpg" if thumbnail else None,
        "options": options_for(shot, config).to_json(),
    }
    return Entry(row, image, thumbnail)


def snapshot(bundle, store, config):
    """The bundle and its shots as they are now (a running bundle: what it has so far).
    Files are named by the shot's number in the bundle, from 1, padded so they sort."""
    shots = db.session.scalars(
        db.select(Shot).where(Shot.bundle_id == bundle.id).order_by(Shot.position)).all()
    progress = Progress.of(shot.state for shot in shots)  # counts the rows listed below
    width = max(3, len(str(progress.total)))
    entries = [_entry(shot, f"{shot.position + 1:0{width}d}", store, config) for shot in shots]
    header = {"bundle_id": bundle.id, "bundle_state": bundle.state,
              "created_at": _time(bundle.created_at), "finished_at": _time(bundle.finished_at),
              "exported_at": _time(utcnow()), "total": progress.total,
              "counts": progress.counts, "options": bundle.options}
    return Export(header, entries)


def manifest_json(export):
    """The header, then one shot per line: readable, easy to grep, and quick to write."""
    header = json.dumps(export.header, ensure_ascii=False)[:-1]
    shots = ",\n".join(json.dumps(entry.row, ensure_ascii=False) for entry in export.entries)
    return f'{header}, "shots": [\n{shots}\n]}}\n'


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def manifest_csv(export):
    """One line per shot, the columns of COLUMNS; options as JSON, nothing as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in export.entries:
        writer.writerow([_cell(entry.row[column]) for column in COLUMNS])
    return out.getvalue()


def zip_stream(export, report_html):
    """The export as a ZIP that reads each image from disk only as its turn comes to be sent.
    Everything is stored, not deflated: screenshots are compressed already, and a stored ZIP
    has a size known in advance, so the download shows its progress (Content-Length)."""
    stream = ZipStream(sized=True)
    stream.add(manifest_json(export), "manifest.json")
    stream.add(manifest_csv(export), "manifest.csv")
    stream.add(report_html, "report.html")
    for entry in export.entries:
        if entry.image_file:
            stream.add_path(entry.image_file, entry.row["image"], recurse=False)
        if entry.thumbnail_file:
            stream.add_path(entry.thumbnail_file, entry.row["thumbnail"], recurse=False)
    return stream


def chunked(strings, size=CHUNK):
    """Encode a template's many small pieces and send them in blocks of about size bytes."""
    block, length = [], 0
    for text in strings:
        data = text.encode("utf-8")
        block.append(data)
        length += len(data)
        if length >= size:
            yield b"".join(block)
            block, length = [], 0
    if block:
        yield b"".join(block)
