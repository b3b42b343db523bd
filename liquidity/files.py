"""Write files so that a reader never sees half of one."""

import os
import tempfile
from pathlib import Path


def write_atomically(path, data, overwrite=True, mode=0o644):
    """Write data to a temporary file beside path, flush it to disk, then move it into place with the given mode.

    With overwrite=False an existing path is kept and FileExistsError is raised. A path that is a device or a pipe is
    written into, not replaced.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        # A device or a pipe (/dev/null, /dev/stdout, a FIFO): replacing it would put a regular file where the
        # system's device was, so write into it as it is.
        if not overwrite:
            raise FileExistsError(path)
        with open(path, "wb") as stream:
            stream.write(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)  # mkstemp makes it owner-only; most of these files are meant to be shared
        if overwrite:
            os.replace(temporary, path)
            return
        try:
            os.link(temporary, path)  # fails if path exists, so a file appearing meanwhile is kept
        except FileExistsError:
            raise
        except OSError:
            if path.exists():  # a filesystem without hard links: check, then rename
                raise FileExistsError(path) from None
            os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
