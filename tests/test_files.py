"""write_atomically: whole files replaced in one step, and devices or pipes written into, never replaced."""

import os
import stat
import threading

import pytest

from liquidity.files import write_atomically


def test_a_regular_file_is_replaced_whole(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left beside it


def test_an_existing_file_is_kept_without_overwrite(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(FileExistsError):
        write_atomically(target, b"new", overwrite=False)
    assert target.read_text() == "old"


def test_a_pipe_is_written_into_and_stays_a_pipe(tmp_path):
    # The fuzz run once wrote its forecasts "--out /dev/null" and, as root, replaced /dev/null with a regular file.
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()))
    reader.start()
    write_atomically(pipe, b"date,coin\n")
    reader.join(timeout=10)
    assert received == [b"date,coin\n"]
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
