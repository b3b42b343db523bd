"""Import snapshot CSVs (a file or a folder) into the market store: idempotent, with a summary of every row.

The command: liquidity/commands/store.py.
"""

import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from liquidity.dataset import load_snapshots
from liquidity.store.store import Repair

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


def import_snapshots(paths, store, progress=None):
    """Load the snapshot CSVs at paths through the loader and add their rows to store; return an ImportResult.

    progress, if given, is called as progress(length=rows) and must return a context manager with
    update(rows), e.g. functools.partial(click.progressbar, label="importing").
    """
    return add_loaded(read_snapshots(paths), store, progress)


def read_snapshots(paths):
    """Load the snapshot CSVs at paths (a path or a list of them) through the loader; raise DatasetError if bad."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return load_snapshots(list(paths), compact=True)


def add_loaded(snapshots, store, progress=None):
    """Add the rows of loaded snapshots to store, then score any row an interrupted earlier import left unscored;
    return an ImportResult (progress as in import_snapshots)."""
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
