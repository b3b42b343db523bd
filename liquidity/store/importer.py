"""Import snapshot CSVs (a file or a folder) into the market store: idempotent, with a summary of every row."""

import logging
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import click

from liquidity.dataset import DatasetError, load_snapshots
from liquidity.store.store import MarketStore, StoreError, database_url

DUPLICATE_REASON = "same coin twice on one date (kept the largest market cap)"


@dataclass
class ImportResult:
    """What one import read, added, skipped (already stored) and dropped (by the loader's rules)."""

    files: list
    rows_read: int
    added: int
    skipped: int
    dropped: Counter = field(default_factory=Counter)

    def summary(self):
        lines = [f"read {self.rows_read:,} row(s) from {len(self.files)} file(s)",
                 f"added {self.added:,} row(s), skipped {self.skipped:,} already stored"]
        if self.added == 0:
            lines.append("nothing new: the store already held every row")
        total = sum(self.dropped.values())
        lines.append(f"dropped {total:,} row(s)" + (":" if total else ""))
        lines.extend(f"  {count:>7,}  {reason}" for reason, count in self.dropped.most_common())
        return "\n".join(lines)


def import_snapshots(paths, store, progress=None):
    """Load the snapshot CSVs at paths through the loader and add their rows to store; return an ImportResult.

    progress, if given, is called as progress(length=rows) and must return a context manager with
    update(rows), e.g. functools.partial(click.progressbar, label="importing").
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    snapshots = load_snapshots(list(paths))
    frame = snapshots.frame.assign(source=snapshots.frame["source_file"])
    if progress is None:
        added = store.add_snapshots(frame)
    else:
        with progress(length=len(frame)) as bar:
            added = store.add_snapshots(frame, progress=bar.update)
    dropped = Counter(snapshots.dropped)
    if snapshots.duplicates_resolved:
        dropped[DUPLICATE_REASON] += snapshots.duplicates_resolved
    return ImportResult(files=snapshots.files, rows_read=snapshots.rows_read, added=added.added,
                        skipped=added.skipped, dropped=dropped)


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


@click.command("import")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--database-url", "url", default=None,
              help="Database to import into (default: DATABASE_URL, else the embedded instance/market.db).")
@click.option("--if-empty", is_flag=True, help="Import only into an empty store (how make run builds the demo store).")
def import_command(paths, url, if_empty):
    """Import snapshot CSV files or folders into the market store; rows already stored are skipped."""
    try:
        with MarketStore(url or database_url()) as store:
            if if_empty and (stored := store.count()):
                click.echo(f"the store already holds {stored:,} row(s); nothing imported (--if-empty)")
                return
            bar = partial(click.progressbar, label="importing", file=sys.stderr, show_pos=True)
            with quiet_loader():
                result = import_snapshots(paths, store, progress=bar)
    except (DatasetError, StoreError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(result.summary())


if __name__ == "__main__":
    import_command.main(prog_name=f"{Path(sys.executable).name} -m liquidity.store.importer")
