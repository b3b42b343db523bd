"""Open the market store (SQLite or PostgreSQL), migrate it when asked, read and write snapshots."""

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError

from liquidity.store.schema import (
    CHANGE_COLUMNS,
    FRAME_COLUMNS,
    INPUT_FRAME_COLUMNS,
    SCORE_OUTCOMES,
    SCORE_UPDATE,
    backtest_forecasts,
    calibrations,
    prediction_log,
    snapshots,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5
SQLITE_CACHE_KIB = 65_536
INSERT_CHUNK_ROWS = 20_000
# Any fixed number shared by every process that migrates the same PostgreSQL database.
MIGRATION_LOCK_KEY = 0x6C697131
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
NUMERIC_FRAME_COLUMNS = ("price", "volume", "mkt_cap", "1h", "24h", "7d")
# The order of every row add_snapshots writes: the frame's columns under their store names.
INSERT_COLUMNS = ("date", "coin_id", "coin", "symbol", "price", "volume", "mkt_cap", "h1", "h24", "d7", "source")


class StoreError(RuntimeError):
    """The store cannot be opened, read or written; the message is one line, naming DATABASE_URL when it is at fault."""


def parse_database_url(url):
    """Return url as a SQLAlchemy URL on a supported driver, or raise StoreError naming DATABASE_URL."""
    if isinstance(url, sa.URL):
        parsed = url
    else:
        try:
            parsed = sa.make_url(str(url).strip())
        except sa.exc.ArgumentError:
            # Not echoed: a malformed URL may still carry a password.
            raise StoreError("DATABASE_URL is not a database URL; use sqlite:///PATH or "
                             "postgresql://USER:PASSWORD@HOST:PORT/NAME") from None
    backend = parsed.get_backend_name()
    if backend == "postgres":  # the spelling some hosts hand out
        backend = "postgresql"
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(f"DATABASE_URL uses {backend!r}; the store supports sqlite:///PATH and postgresql://...")
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        # psycopg (v3) is the driver the project installs; SQLAlchemy would otherwise look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _shown(url):
    return url.render_as_string(hide_password=True)


def _first_line(error):
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__


def sqlite_file(url):
    """Return the file of a SQLite URL, None for an in-memory one or another backend."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite":
        return None
    return None if database in ("", ":memory:") or database.startswith("file:") else Path(database)


def create_store_engine(url, read_only=False, pooled=True):
    """Create an engine for url; SQLite files get WAL, a busy timeout and foreign keys on every connection.

    read_only: every connection refuses writes (SQLite opens the file with mode=ro, PostgreSQL starts each transaction
    read only), and a missing SQLite file raises StoreError instead of being created. pooled=False: a SQLite
    connection is closed as soon as it is returned (see MarketStore).
    """
    url = parse_database_url(url)
    if url.get_backend_name() != "sqlite":
        # A server that is down or unreachable fails a connect in seconds, not the OS's minutes.
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        if read_only:
            connect_args["options"] = "-c default_transaction_read_only=on"
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    path = sqlite_file(url)
    if read_only and path is not None:
        if not path.is_file():
            raise StoreError(f"DATABASE_URL={_shown(url)}: there is no store at {path}")
        # A URI filename, so SQLite opens the file read-only; percent-encoded, since a path may hold '#' or '%'.
        url = url.set(database=f"file:{quote(str(path.resolve()))}", query={**url.query, "mode": "ro", "uri": "true"})
    elif path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"DATABASE_URL={_shown(url)}: cannot create the folder {path.parent} "
                             f"({error.strerror or error})") from None
    engine = sa.create_engine(url) if pooled else sa.create_engine(url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling skips DDL; SQLAlchemy's BEGIN (below) makes migrations atomic.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:  # both change the file; a read-only connection takes the file as it is
            try:
                cursor.execute("PRAGMA journal_mode=WAL")  # readers (the app) never wait for the writer (an import)
            except dbapi_connection.OperationalError:
                # A file this process cannot write (read-only for now) and not yet in WAL mode: read it in the mode
                # it has, rather than fail every connection; a later connection, once it is writable, switches.
                pass
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; safe with WAL
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Up to 64 MiB of pages, taken only as used: the (coin_id, date) index takes rows in random order during an
        # import, and SQLite's 2 MiB default made the full history's insert about 30 % slower (measured).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def alembic_config(connection=None):
    """Return an Alembic Config for the packaged migrations, bound to connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# Alembic keeps its migration context in module globals: two threads of one process must not migrate at once.
_MIGRATING = threading.Lock()


@dataclass(frozen=True)
class Migration:
    """The revisions a database was at before and after a migration (None: no schema)."""

    before: str | None
    after: str | None

    @property
    def changed(self):
        return self.before != self.after

    def describe(self):
        """Say what the migration did in one line, e.g. "migrated the market store from 0003 to 0004"."""
        if not self.changed:
            return f"the market store is at revision {self.after} already"
        if self.before is None:
            return f"created the market store's schema at revision {self.after}"
        return f"migrated the market store from {self.before} to {self.after}"


def migrate(engine, revision="head"):
    """Upgrade the database behind engine to revision, one process (and one thread) at a time; return a Migration."""
    with _MIGRATING:
        return _migrate(engine, revision)


def _migrate(engine, revision):
    from alembic.runtime.migration import MigrationContext

    connection = engine.connect()
    if engine.dialect.name == "sqlite":
        # Take the write lock first, so two processes opening a new file do not both create the table.
        connection = connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
    with connection, connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), revision)
        return Migration(before, MigrationContext.configure(connection).get_current_revision())


def current_revision(engine):
    """Return the migration revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _as_date(value):
    if value is None:
        return None
    if isinstance(value, Date):
        return value
    try:
        return Date.fromisoformat(str(value))
    except ValueError:
        raise StoreError(f"date {value!r} is not a date like 2024-03-16") from None


TEXT_DTYPE = pd.Series([], dtype="str").dtype  # pandas' default text dtype, looked up once


def _rows_to_frame(rows):
    """Return result rows as a frame with the loader's columns; built column by column, since a frame of a
    coin's month is read on every forecast and pandas' row-wise constructor is most of that time."""
    values = list(zip(*rows)) if rows else [()] * len(FRAME_COLUMNS)
    data = {}
    for name, column in zip(FRAME_COLUMNS, values):
        # A NULL arrives as None and becomes NaN in a float array: missing, never 0.
        numeric = name in NUMERIC_FRAME_COLUMNS or name == "liquidity_score"
        data[name] = np.array(column, dtype="float64") if numeric else pd.array(column, dtype=TEXT_DTYPE)
    return pd.DataFrame(data, copy=False)


def _chunked_frame(cursor, chunk_rows):
    """Return the frame of every row left in cursor, fetched and converted chunk_rows at a time.

    Each fetch and conversion is one call that holds the interpreter lock; between chunks another thread runs.
    """
    frames = []
    while True:
        rows = cursor.fetchmany(chunk_rows)
        if not rows:
            break
        frames.append(_rows_to_frame(rows))
    if not frames:
        return _rows_to_frame([])
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Repair:
    """What repair_scores did: rows it scored, on how many dates."""

    rows: int
    dates: int


@dataclass
class AddResult:
    """What add_snapshots (or a SnapshotImport's add) did: rows new to the store, rows it held before the import began
    (same date and coin_id), and rows whose date and coin_id an earlier frame of the same import brought."""

    added: int
    skipped: int
    duplicates: int = 0


# Store columns as the frames name them; the date comes back as text, 'YYYY-MM-DD' on both backends.
_FRAME_SELECT = [
    sa.cast(snapshots.c.date, sa.Text).label("date"),
    snapshots.c.coin_id, snapshots.c.coin, snapshots.c.symbol, snapshots.c.price, snapshots.c.volume,
    snapshots.c.mkt_cap, *(snapshots.c[name].label(label) for name, label in CHANGE_COLUMNS.items()),
    snapshots.c.source, snapshots.c.liquidity_score,
]
# Built once: a forecast reads one coin's month on every request.
_COIN_HISTORY = (sa.select(*_FRAME_SELECT)
                 .where(snapshots.c.coin_id == sa.bindparam("coin_id"), snapshots.c.date > sa.bindparam("start"),
                        snapshots.c.date <= sa.bindparam("end"))
                 .order_by(snapshots.c.date))


class MarketStore:
    """Snapshots in a database: open it (migrating it only when asked), read frames, add frames."""

    def __init__(self, url, *, migrate=False, read_only=False, pooled=True):
        """Open the store at url (a DATABASE_URL); migrate=True upgrades its schema to the newest migration first
        (self.migration says what changed), read_only=True refuses every write (see create_store_engine).

        pooled=False keeps no SQLite connection open between uses, as a long-running server wants: SQLite shares one
        -shm mapping among a process's connections to a file, so a connection opened while the file was read-only,
        kept in a pool (or in a pool dropped by a reset, until the garbage collector finds it), made every new
        connection of the process read-only too, long after the file was writable again."""
        self.url = parse_database_url(url)
        self.engine = create_store_engine(self.url, read_only=read_only, pooled=pooled)
        self.dialect = self.engine.dialect.name
        self.migration = self._migrate() if migrate else None

    def _migrate(self):
        try:
            return migrate(self.engine)
        except sa.exc.DBAPIError as error:
            self.engine.dispose()
            raise StoreError(f"cannot open the database at DATABASE_URL={_shown(self.url)}: "
                             f"{_first_line(error)}") from None
        except CommandError as error:
            self.engine.dispose()
            raise StoreError(f"the database at DATABASE_URL={_shown(self.url)} cannot be migrated: "
                             f"{_first_line(error)}") from None

    def has_schema(self):
        """Return True when the database holds the snapshots table (False too when it cannot be asked)."""
        try:
            with self.engine.connect() as connection:
                return sa.inspect(connection).has_table(snapshots.name)
        except sa.exc.DBAPIError:
            return False

    def error(self, action, error, what="the store"):
        """Return the StoreError for a failed action ("read", "write to") on what: says to import first when the
        database has no schema yet, else names DATABASE_URL and the driver's first line."""
        if not self.has_schema():
            return StoreError(f"the store at DATABASE_URL={_shown(self.url)} has no schema yet: run "
                              f"`python -m liquidity import PATH...` (or ingest, or daily) to create it")
        return StoreError(f"cannot {action} {what} at DATABASE_URL={_shown(self.url)}: {_first_line(error)}")

    def __repr__(self):
        return f"MarketStore({_shown(self.url)!r})"

    def close(self):
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _frame(self, statement, parameters=None, chunk_rows=None):
        try:
            with self.engine.connect() as connection:
                result = connection.execute(statement, parameters)
                # Plain driver tuples: every column of _FRAME_SELECT arrives as text or float, so SQLAlchemy's
                # Row objects would only add time (a third of reading the full history).
                if chunk_rows is None:
                    frame = _rows_to_frame(result.cursor.fetchall())
                else:
                    frame = _chunked_frame(result.cursor, chunk_rows)
                result.close()
        except sa.exc.DBAPIError as error:
            raise self.error("read", error) from None
        return frame

    def _all(self, statement):
        """Return every row of statement, or raise StoreError in one line."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(statement).all()
        except sa.exc.DBAPIError as error:
            raise self.error("read", error) from None

    def _scalars(self, statement):
        return [row[0] for row in self._all(statement)]

    def count(self):
        """Return how many snapshot rows the store holds."""
        return self._scalars(sa.select(sa.func.count()).select_from(snapshots))[0]

    def dates(self):
        """Return every stored snapshot date, oldest first, as 'YYYY-MM-DD' text."""
        column = sa.cast(snapshots.c.date, sa.Text)
        return self._scalars(sa.select(column).group_by(snapshots.c.date).order_by(snapshots.c.date))

    def latest_date(self):
        """Return the newest stored snapshot date as 'YYYY-MM-DD', or None for an empty store."""
        latest = self._scalars(sa.select(sa.func.max(snapshots.c.date)))[0]
        return None if latest is None else str(latest)

    def latest_signature(self):
        """Return (latest date, newest row id), or (None, None): two index lookups that change whenever rows land.

        Rows are only ever added (and every date a write touches is re-ranked), so the newest id changes with any
        write, a late coin on an old date included.
        """
        latest, newest, *_ = self.version_marks()
        return latest, newest

    def version_marks(self):
        """Return (latest date, newest snapshot id, newest log id, newest calibration id, newest backtest run's time
        as text), None where empty: what changes whenever anything the web serves from lands, read in one
        statement."""
        # Scalar subqueries, not aggregates in one SELECT: SQLite answers a lone MAX from an index, but scans the
        # table for MAX(date), MAX(id) together.
        latest, newest, log_id, calibration_id, backtest_at = self._all(sa.select(
            *(sa.select(sa.func.max(column)).scalar_subquery()
              for column in (snapshots.c.date, snapshots.c.id, prediction_log.c.id, calibrations.c.id,
                             backtest_forecasts.c.created_at))))[0]
        return (None if latest is None else str(latest), None if newest is None else int(newest),
                None if log_id is None else int(log_id), None if calibration_id is None else int(calibration_id),
                None if backtest_at is None else str(backtest_at))

    def snapshot(self, date):
        """Return every coin's row on date, by coin_id."""
        statement = (sa.select(*_FRAME_SELECT).where(snapshots.c.date == _as_date(date))
                     .order_by(snapshots.c.coin_id))
        return self._frame(statement)

    def history(self, coin_ids=None, start=None, end=None, chunk_rows=None):
        """Return rows between start and end (inclusive, either open), for coin_ids or every coin, by date then coin.

        chunk_rows: fetch and convert that many rows at a time, for a reader that shares its process with requests
        (the web's read model): one fetch of a month of 10,000 coins held the interpreter lock for most of a second.
        """
        statement = sa.select(*_FRAME_SELECT)
        if coin_ids is not None:
            statement = statement.where(snapshots.c.coin_id.in_(list(coin_ids)))
        if start is not None:
            statement = statement.where(snapshots.c.date >= _as_date(start))
        if end is not None:
            statement = statement.where(snapshots.c.date <= _as_date(end))
        return self._frame(statement.order_by(snapshots.c.date, snapshots.c.coin_id), chunk_rows=chunk_rows)

    def coin_history(self, coin_id, end=None, days=31):
        """Return one coin's rows over the `days` calendar days ending at end (default: the latest stored date)."""
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}")
        end = _as_date(end) if end is not None else _as_date(self.latest_date())
        if end is None:
            return _rows_to_frame([])
        # Near the calendar's first day (a client may ask for 0001-01-01) the window starts at that day, not before it.
        start = end - timedelta(days=min(days, (end - Date.min).days))
        return self._frame(_COIN_HISTORY, {"coin_id": coin_id, "start": start, "end": end})

    def coins(self):
        """Return coin_id, coin and symbol of every coin on the latest stored date, by coin_id."""
        latest = sa.select(sa.func.max(snapshots.c.date)).scalar_subquery()
        statement = (sa.select(snapshots.c.coin_id, snapshots.c.coin, snapshots.c.symbol)
                     .where(snapshots.c.date == latest).order_by(snapshots.c.coin_id))
        return pd.DataFrame(self._all(statement), columns=["coin_id", "coin", "symbol"])

    def add_snapshots(self, frame, source=None, progress=None, chunk_rows=INSERT_CHUNK_ROWS):
        """Insert the rows of a loader frame; rows whose date and coin_id are stored already are skipped.

        source names where the rows came from (e.g. the file); without it the frame's source or source_file
        column is used. progress, if given, is called with the number of rows handled after each chunk.
        A chunk holds whole dates (up to chunk_rows rows, or one larger date) and commits with its dates' scores, so
        an interrupted import leaves no row without a liquidity score, and a re-run completes it.
        """
        with self.importing() as session:
            return session.add(frame, source=source, progress=progress, chunk_rows=chunk_rows)

    @contextmanager
    def importing(self):
        """Yield a SnapshotImport that adds frame after frame as one import, on one connection, and scores the logged
        forecasts waiting for its rows at the end (see SnapshotImport for how duplicates across frames resolve)."""
        try:
            with self.engine.connect() as connection:
                session = SnapshotImport(self, connection)
                yield session
                if session.added:
                    with connection.begin():
                        # A newer snapshot is what logged forecasts were waiting for: score them against it.
                        connection.execute(SCORE_OUTCOMES)
        except (sa.exc.DBAPIError, self.engine.dialect.loaded_dbapi.Error) as error:
            # The driver's own error too: the chunk writers use its cursor directly.
            raise self.error("write to", error) from None

    def repair_scores(self):
        """Score every row stored without a liquidity score (left by an import before scores committed with their
        rows); return a Repair saying how many rows on how many dates."""
        unscored = (sa.select(sa.cast(snapshots.c.date, sa.Text), sa.func.count())
                    .where(snapshots.c.liquidity_score.is_(None)).group_by(snapshots.c.date))
        try:
            with self.engine.begin() as connection:
                counts = connection.execute(unscored).all()
                for date, _ in counts:
                    connection.execute(SCORE_UPDATE, {"start": date, "end": date})
                if counts:
                    connection.execute(SCORE_OUTCOMES)
        except (sa.exc.DBAPIError, self.engine.dialect.loaded_dbapi.Error) as error:
            raise self.error("write to", error) from None
        return Repair(rows=sum(count for _, count in counts), dates=len(counts))

    @staticmethod
    def _prepared(frame, source):
        """Check a frame for add_snapshots; return it sorted by date with its dates ('YYYY-MM-DD') and sources as
        numpy arrays in the same order."""
        missing = [column for column in INPUT_FRAME_COLUMNS if column not in frame.columns]
        if missing:
            raise ValueError(f"add_snapshots: the frame lacks column(s) {', '.join(missing)}")
        if source is None:
            column = next((name for name in ("source", "source_file") if name in frame.columns), None)
            if column is None:
                raise ValueError("add_snapshots needs a source: pass source= or a frame with a source column")
            sources = _text_array(frame[column])
        else:
            sources = np.full(len(frame), str(source), dtype=object)
        dates = frame["date"]
        # Each distinct date is checked once, not once a row.
        categorical = isinstance(dates.dtype, pd.CategoricalDtype)
        distinct = pd.Series(dates.cat.categories if categorical else dates.unique()).astype(str)
        bad = ~distinct.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
        if bad.any():
            raise ValueError(f"add_snapshots: date {distinct[bad].iloc[0]!r} is not like 2024-03-16")
        dates = _text_array(dates)
        if len(dates) > 1 and not (dates[1:] >= dates[:-1]).all():
            order = np.argsort(dates, kind="stable")
            frame, dates, sources = frame.iloc[order], dates[order], sources[order]
        return frame, dates, sources

    @staticmethod
    def _rows(frame, dates, sources):
        """Return the frame as tuples in INSERT_COLUMNS order: missing numbers as None."""
        columns = [dates.tolist(), *(frame[name].astype(str).tolist() for name in ("coin_id", "coin", "symbol"))]
        for name in NUMERIC_FRAME_COLUMNS:
            numbers = frame[name].astype("float64")
            # None, not NaN: the store keeps a missing value as NULL (never 0, never a NaN a query would miss).
            columns.append(numbers.astype(object).where(numbers.notna(), None).tolist())
        columns.append(sources.tolist())
        return list(zip(*columns))


# The columns an import may replace in a row it added itself, when a later frame brings the same coin and date with a
# larger market cap (the loader's rule); liquidity_score follows from the re-rank in the same transaction.
REPLACED_COLUMNS = INSERT_COLUMNS[2:]


class SnapshotImport:
    """One import into the store, frame after frame (MarketStore.importing), on one connection.

    Each frame's rows must be unique by (date, coin_id) (the loader's resolve_duplicates). Across frames the rule is
    the whole-file loader's: one row per coin and date, the largest market cap, then the first read. So a row whose
    date and coin_id the store held before the import began is skipped, counted once as skipped and then as a
    duplicate; a row whose date and coin_id an earlier frame added is a duplicate, and replaces that row only when its
    market cap is strictly larger. Rows the import added are told apart by id: ids only grow, so they are the ones
    above the largest id stored when it began (rows another writer adds meanwhile count as the import's own).
    The keys of skipped rows are kept in a temporary table of the connection, on the database's side, so memory does
    not grow with the file.
    """

    def __init__(self, store, connection):
        self.store = store
        self.connection = connection
        self.added = self.skipped = self.duplicates = 0
        postgresql = store.dialect == "postgresql"
        with connection.begin():
            newest = connection.execute(sa.select(sa.func.max(snapshots.c.id))).scalar()
            self.floor = 0 if newest is None else int(newest)
            names = ", ".join(INSERT_COLUMNS)
            if postgresql:
                connection.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS snapshots_incoming ON COMMIT DELETE ROWS "
                    f"AS SELECT {names} FROM snapshots WITH NO DATA")
            else:
                connection.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS snapshots_incoming AS SELECT {names} FROM snapshots WHERE 0")
            connection.exec_driver_sql("CREATE TEMPORARY TABLE IF NOT EXISTS import_skipped "
                                       "(date DATE NOT NULL, coin_id TEXT NOT NULL, PRIMARY KEY (date, coin_id))")
            # A pooled connection keeps its temporary tables: an earlier import that failed may have left rows there.
            connection.exec_driver_sql("DELETE FROM snapshots_incoming")
            connection.exec_driver_sql("DELETE FROM import_skipped")

    def add(self, frame, source=None, progress=None, chunk_rows=INSERT_CHUNK_ROWS):
        """Add a frame's rows as MarketStore.add_snapshots does, by the rule above across frames; return an AddResult.

        Each group of whole dates (up to chunk_rows rows, or one larger date) commits with its dates re-ranked.
        """
        frame, dates, sources = MarketStore._prepared(frame, source)
        result = AddResult(added=0, skipped=0, duplicates=0)
        for begin, end in date_chunks(dates, chunk_rows):
            # Tuples for one chunk at a time: the whole frame's would cost several times its memory.
            rows = MarketStore._rows(frame.iloc[begin:end], dates[begin:end], sources[begin:end])
            with self.connection.begin():
                added, skipped, replaced = self._write(rows)
                if added or replaced:
                    # A new coin on a stored date moves every other coin's rank on that date.
                    self.connection.execute(SCORE_UPDATE, {"start": dates[begin], "end": dates[end - 1]})
            result.added += added
            result.skipped += skipped
            result.duplicates += len(rows) - added - skipped
            if progress:
                progress(len(rows))
        self.added += result.added
        self.skipped += result.skipped
        self.duplicates += result.duplicates
        return result

    def _write(self, rows):
        """Write rows by the rule; return (rows added, rows skipped for the first time, rows replaced)."""
        names = ", ".join(INSERT_COLUMNS)
        cursor = self.connection.connection.driver_connection.cursor()
        postgresql = self.store.dialect == "postgresql"
        if postgresql:
            # psycopg reports no row count for executemany: COPY into the scratch table, then one INSERT ... SELECT
            # that skips stored rows is both exact and several times faster than row-by-row inserts.
            self._copy_rows(cursor, rows)
            cursor.execute(f"INSERT INTO snapshots ({names}) SELECT {names} FROM snapshots_incoming "
                           "ON CONFLICT (date, coin_id) DO NOTHING")
        else:
            # SQLite's executemany reports the rows it really inserted, so rows already stored are not counted; the
            # rows go straight in, and through the scratch table only when some were stored already.
            marks = ", ".join("?" * len(INSERT_COLUMNS))
            cursor.executemany(f"INSERT INTO snapshots ({names}) VALUES ({marks}) "
                               "ON CONFLICT (date, coin_id) DO NOTHING", rows)
        added = cursor.rowcount
        skipped = replaced = 0
        if added < len(rows):
            if not postgresql:
                # The keys alone first: a re-import (every row stored before) needs no more, and binds 2 values a row.
                cursor.executemany("INSERT INTO snapshots_incoming (date, coin_id) VALUES (?, ?)",
                                   [row[:2] for row in rows])
            matched = "snapshots.date = i.date AND snapshots.coin_id = i.coin_id"
            if self.floor:
                # Rows the store held before the import: a key's first sighting is a skip, any later one a duplicate.
                cursor.execute("INSERT INTO import_skipped (date, coin_id) SELECT i.date, i.coin_id "
                               f"FROM snapshots_incoming i JOIN snapshots ON {matched} "
                               f"WHERE snapshots.id <= {self.floor} ON CONFLICT (date, coin_id) DO NOTHING")
                skipped = cursor.rowcount
            if skipped < len(rows) - added:  # a row this import added may have met a larger cap (a re-import: none)
                if not postgresql:
                    cursor.execute("DELETE FROM snapshots_incoming")
                    cursor.executemany(f"INSERT INTO snapshots_incoming ({names}) VALUES ({marks})", rows)
                columns = ", ".join(f"{name} = i.{name}" for name in REPLACED_COLUMNS)
                cursor.execute(f"UPDATE snapshots SET {columns} FROM snapshots_incoming i WHERE {matched} "
                               f"AND snapshots.id > {self.floor} AND i.mkt_cap > snapshots.mkt_cap")
                replaced = cursor.rowcount
            if not postgresql:  # PostgreSQL empties it at commit (ON COMMIT DELETE ROWS)
                cursor.execute("DELETE FROM snapshots_incoming")
        return added, skipped, replaced

    @staticmethod
    def _copy_rows(cursor, rows):
        with cursor.copy(f"COPY snapshots_incoming ({', '.join(INSERT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _text_array(column):
    """Return a column's values as an object array of str; a categorical's rows share its categories' strings."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.categories.astype(str).to_numpy(dtype=object)[column.cat.codes.to_numpy()]
    return column.astype(str).to_numpy(dtype=object)


def date_chunks(dates, chunk_rows):
    """Yield (begin, end) positions of consecutive whole dates in sorted dates: as many as fit in chunk_rows rows,
    or one date alone when it holds more."""
    if not len(dates):
        return
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]]).tolist() + [len(dates)]
    begin = starts[0]
    for previous, boundary in zip(starts[1:-1], starts[2:]):
        if boundary - begin > chunk_rows:
            yield begin, previous
            begin = previous
    yield begin, len(dates)
