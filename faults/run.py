"""Run the fault scenarios against gunicorn -w 2 and print a table; exit 1 when a goal is missed.

Run: make faults   (or: python -m faults.run [--only NAME ...])

Goals: no answer with status 500, no stalled request, no log row lost without being counted, and recovery from every
fault without a restart, on SQLite and PostgreSQL. Needs root (pg_ctl runs as Debian's postgres user; SQLite's
read-only file is made so for a gunicorn under setpriv without root's file override), redis-server and
PostgreSQL's binaries (.ci/postgres installs them when missing). About two minutes on two cores.
"""

import argparse
import shutil
import sys
import time

from faults import scenarios
from faults.harness import Postgres, Redis, a_coin, import_demo, scratch

NAMES = ("postgres-stop", "postgres-down-at-start", "postgres-kill9", "sqlite-read-only", "sqlite-cold-read-only",
         "sqlite-deleted", "sqlite-kill9", "redis-pause", "limit-memory", "limit-redis")


def run(names):
    """Run the scenarios named; return their Results in order."""
    results = []
    with scratch("liquidity-faults-") as folder:
        master = scenarios.demo_store(folder)
        coin_id = a_coin(f"sqlite:///{master}")

        def sqlite_copy(name):
            path = folder / f"{name}.db"
            shutil.copyfile(master, path)
            return path

        if any(name.startswith("postgres") for name in names):
            postgres = Postgres()
            try:
                import_demo(postgres.url)
                if "postgres-stop" in names:
                    results.append(scenarios.postgres_stopped(postgres, folder, coin_id))
                if "postgres-down-at-start" in names:
                    results.append(scenarios.postgres_down_at_start(postgres, folder, coin_id))
                if "postgres-kill9" in names:
                    results.append(scenarios.killed_worker(postgres.url, "postgresql", folder, coin_id))
            finally:
                postgres.close()
        if "sqlite-read-only" in names:
            results.append(scenarios.sqlite_read_only_episode(sqlite_copy("read-only"), folder, coin_id))
        if "sqlite-cold-read-only" in names:
            results.append(scenarios.sqlite_cold_read_only(sqlite_copy("cold"), folder, coin_id))
        if "sqlite-deleted" in names:
            results.append(scenarios.sqlite_deleted(sqlite_copy("deleted"), folder, coin_id))
        if "sqlite-kill9" in names:
            path = sqlite_copy("kill9")
            results.append(scenarios.killed_worker(f"sqlite:///{path}", "sqlite", folder, coin_id))
        if "redis-pause" in names:
            results.append(scenarios.redis_paused(folder, f"sqlite:///{sqlite_copy('redis')}"))
        if "limit-memory" in names:
            results.append(scenarios.per_worker_limit(folder, f"sqlite:///{sqlite_copy('limit-memory')}"))
        if "limit-redis" in names:
            redis = Redis(folder)
            try:
                results.append(scenarios.per_worker_limit(folder, f"sqlite:///{sqlite_copy('limit-redis')}",
                                                          redis.url))
            finally:
                redis.close()
    return results


def missed(result):
    """Return the goals result missed (empty when it met them all)."""
    misses = []
    if result.statuses.get(500):
        misses.append(f"{result.statuses[500]} answer(s) with status 500")
    if result.statuses.get("timeout"):
        misses.append(f"{result.statuses['timeout']} request(s) stalled past 5 s")
    if result.rows_lost_uncounted:
        misses.append(f"{result.rows_lost_uncounted} log row(s) lost without being counted")
    if result.recover_seconds is None and not result.fault.startswith("rate limit"):
        misses.append("no recovery without a restart")
    return misses


def table(results):
    """Return the results as a text table."""
    header = ("fault", "db", "served", "errors by status", "rows expected/written", "failed", "lost counted",
              "lost uncounted", "recovered in", "/healthz during -> after")
    rows = [header]
    for result in results:
        errors = ", ".join(f"{status}: {count}" for status, count in result.errors().items()) or "none"
        recovered = "-" if result.fault.startswith("rate limit") else (
            "NO" if result.recover_seconds is None else f"{result.recover_seconds:.1f} s")
        rows.append((result.fault, result.backend, str(result.served), errors,
                     f"{result.rows_expected}/{result.rows_written}", str(result.rows_failed),
                     str(result.rows_lost_counted), str(result.rows_lost_uncounted), recovered,
                     f"{result.health_during or '-'} -> {result.health_after or '-'}"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv=None):
    """Run the scenarios, print the table and each one's notes; return 1 when a goal was missed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES), help="the scenarios to run")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run(args.only)
    print(table(results))
    failures = 0
    for result in results:
        for note in result.notes:
            print(f"  {result.fault} ({result.backend}): {note}")
        for miss in missed(result):
            failures += 1
            print(f"  MISSED {result.fault} ({result.backend}): {miss}")
    print(f"{len(results)} scenario(s) in {time.monotonic() - started:.0f} s; "
          f"{'every goal met' if not failures else f'{failures} goal(s) missed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
