"""Where shot images live on disk, written so a reader never sees half a file."""
import os
import shutil
import tempfile
from pathlib import Path


# The file extension each image format is kept and served under.
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "pdf": "pdf"}


class MediaStore:
    """A folder of shot images; paths stored in rows are relative to its root."""

    def __init__(self, root):
        self.root = Path(root)

    def shot_path(self, shot_id, name):
        return f"shots/{shot_id[:2]}/{shot_id}/{name}"

    def absolute(self, relative):
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"{relative!r} is outside the media folder")
        return path

    def write(self, relative, data):
        """Write bytes atomically: a temp file in the same folder, then rename."""
        target = self.absolute(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(data)

    def remove_shot(self, shot_id):
        """Delete every file of a shot (its folder)."""
        shutil.rmtree(self.absolute(self.shot_path(shot_id, "x")).parent, ignore_errors=True)

    def read(self, relative):
        return self.absolute(relative).read_bytes()
