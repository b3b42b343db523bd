"""Import snapshot CSVs (a file or a folder) into the market store: idempotent, with a summary of every row.

The command: liquidity/commands/store.py.
"""

import logging
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liquidity.dataset import (
    DatasetError,
    check_snapshot_header,
    clean_snapshot_rows,
    load_snapshots,
    read_snapshot_stream,
    release_freed_memory,
    resolve_duplicates,
    snapshot_files,
)
from liquidity.store.store import Repair
from liquidity.tabular import DEFAULT_CHUNK_BYTES

log = logging.getLogger(load_snapshots.__module__)  # the loader's logger: quiet_loader silences both
# Rows of a chunk's last date held back for the next chunk at most (about a chunk's worth): more are written at once.
HELD_ROWS = 100_000

DUPLICATE_REASON = "same coin twice on one date (kept the largest market cap)"


@dataclass
class ImportResult:
    """What one import read, added, skipped (already stored) and dropped (by the loader's rules)."""

    files: list
    rows_read: int
    added: int
    skipped: int
    dropped: Counter = field(default_factory=Counter)
    repaired: Repair = Repair(rows=0, dates=0)

    def summary(self):
        lines = [f"read {self.rows_read:,} row(s) from {len(self.files)} file(s)",
                 f"added {self.added:,} row(s), skipped {self.skipped:,} already stored"]
        if self.added == 0:
            lines.append("nothing new: the store already held every row")
        if self.repaired.rows:
            lines.append(f"scored {self.repaired.rows:,} row(s) on {self.repaired.dates:,} date(s) that an interrupted "
                         "earlier import had left without a liquidity score")
        total = sum(self.dropped.values())
        lines.append(f"dropped {total:,} row(s)" + (":" if total else ""))
        lines.extend(f"  {count:>7,}  {reason}" for reason, count in self.dropped.most_common())
        return "\n".join(lines)


def import_snapshots(paths, store, progress=None, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Stream the snapshot CSVs at paths (a path or a list of them) into store, chunk_bytes of text at a time;
    return an ImportResult. Memory follows the chunk, not the files.

    Each chunk's rows are cleaned and de-duplicated by the loader's rules (liquidity.dataset) and written in
    transactions of whole dates with their dates re-ranked; across chunks the store keeps the loader's rule (the
    largest market cap, then the first read: see SnapshotImport), so the rows stored and every count are those a
    whole-file load would give. Rows of a file's last date in a chunk wait for the next chunk (up to HELD_ROWS), so
    a file sorted by date lands in whole dates. Every file's header is checked before the store is touched; a file
    found to hold no usable row raises DatasetError after the rows before it were written (they are complete and
    scored, and a re-run skips them). Then any row an interrupted earlier import left unscored is scored.
    progress, if given, is called as progress(length=bytes) and must return a context manager with update(bytes),
    e.g. functools.partial(click.progressbar, label="importing").
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = [file for path in paths for file in snapshot_files(path)]
    for file in files:
        check_snapshot_header(file)
    bar = progress(length=sum(file.stat().st_size for file in files)) if progress else nullcontext()
    rows_read, dropped, duplicates = 0, Counter(), 0
    with store.importing() as session, bar as meter:
        held = None
        try:
            for file in files:
                file_dropped, usable, position = Counter(), 0, 0
                for raw, read_to in read_snapshot_stream(file, chunk_bytes):
                    rows_read += len(raw)
                    clean, chunk_dropped = clean_snapshot_rows(raw)
                    del raw
                    file_dropped += chunk_dropped
                    usable += len(clean)
                    if held is not None:  # held rows first: they were read first
                        clean = pd.concat([held, clean], ignore_index=True) if len(clean) else held
                    clean, resolved = resolve_duplicates(clean)
                    duplicates += resolved
                    clean, held = hold_last_date(clean)
                    session.add(clean)
                    del clean
                    release_freed_memory()
                    if progress:
                        meter.update(read_to - position)
                    position = read_to
                if not usable:
                    reasons = ", ".join(f"{n} {r}" for r, n in file_dropped.most_common()) or "no data rows"
                    raise DatasetError(f"{file}: no usable rows ({reasons})")
                dropped += file_dropped
        except DatasetError as error:
            if not session.added:
                raise
            raise DatasetError(f"{error}; the {session.added:,} row(s) added before it stay in the store, complete "
                               "and scored (a re-run skips them)") from None
        if held is not None:
            session.add(held)
    repaired = store.repair_scores()
    duplicates += session.duplicates
    for text, count in dropped.most_common():
        log.warning("dropped %d row(s): %s", count, text)
    if duplicates:
        dropped[DUPLICATE_REASON] += duplicates
        log.warning("resolved %d duplicate coin row(s) within a date (kept the largest market cap)", duplicates)
    return ImportResult(files=[str(file) for file in files], rows_read=rows_read, added=session.added,
                        skipped=session.skipped, dropped=dropped, repaired=repaired)


def hold_last_date(frame):
    """Split a chunk's rows (sorted by date) into those to write now and those of its last date, held back for the
    next chunk (None when none are); a chunk of one date, or a last date over HELD_ROWS rows, is written whole."""
    if not len(frame):
        return frame, None
    dates = frame["date"].to_numpy()
    first_of_last = int(np.searchsorted(dates, dates[-1], side="left"))
    if first_of_last == 0 or len(frame) - first_of_last > HELD_ROWS:
        return frame, None
    return frame.iloc[:first_of_last], frame.iloc[first_of_last:].reset_index(drop=True)


def add_loaded(snapshots, store, progress=None):
    """Add the rows of a whole-file load (dataset.load_snapshots) to store, then score any row an interrupted earlier
    import left unscored; return an ImportResult. progress is called as progress(length=rows), updated in rows."""
    frame = snapshots.frame  # its source_file column is the rows' source; a copy would double the memory
    if progress is None:
        added = store.add_snapshots(frame)
    else:
        with progress(length=len(frame)) as bar:
            added = store.add_snapshots(frame, progress=bar.update)
    repaired = store.repair_scores()
    dropped = Counter(snapshots.dropped)
    if snapshots.duplicates_resolved:
        dropped[DUPLICATE_REASON] += snapshots.duplicates_resolved
    return ImportResult(files=snapshots.files, rows_read=snapshots.rows_read, added=added.added,
                        skipped=added.skipped, dropped=dropped, repaired=repaired)


@contextmanager
def quiet_loader():
    """Silence the loader's per-reason warnings while the command runs: its summary lists the same drops once."""
    loader_log = logging.getLogger(load_snapshots.__module__)
    level = loader_log.level
    loader_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        loader_log.setLevel(level)
