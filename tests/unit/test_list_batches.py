"""dialer.lists.batches: a file read in batches of COPY lines, in a thread or a worker process."""
from __future__ import annotations

from pathlib import Path

import pytest

from dialer.lists.batches import Batch, BatchJob, BatchReader, Header, read_batches
from dialer.lists.model import FileProblem
from dialer.lists.readers import inspect_file

DATA = Path(__file__).resolve().parents[1] / "data"


def job(path: Path, batch_rows: int = 3, resume_after: int = 0, overrides=None) -> BatchJob:
    return BatchJob(path, inspect_file(path), overrides, "CN", 7, 42, resume_after, batch_rows)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_header_then_batches_with_repeats_dropped_and_lines_in_phone_order(tmp_path):
    path = write(tmp_path, "phone,name\n13800000009,A\n13800000001,B\n138 0000 0009,A again\n"
                           "bad,C\n\n13800000005,D\n")
    header, first, second = list(read_batches(job(path)))
    assert header == Header({"phone": "phone", "name": "name"})
    assert (first.rows, first.last_row, first.repeats, first.phones) == (3, 4, 1, ["+8613800000001",
                                                                                  "+8613800000009"])
    assert first.data.decode().splitlines() == ["7\t42\t+8613800000001\t{}\tB\t\t\\N\t\\N\t{}\tAsia/Shanghai\t3",
                                                "7\t42\t+8613800000009\t{}\tA\t\t\\N\t\\N\t{}\tAsia/Shanghai\t2"]
    assert (second.rows, second.last_row, second.errors, second.fraction) == \
        (2, 7, [(42, 5, "phone", "not a phone number")], 1.0)
    assert second.phones == ["+8613800000005"] and second.problem is None


def test_resume_skips_the_rows_already_loaded(tmp_path):
    path = write(tmp_path, "phone\n" + "".join(f"1380000000{n}\n" for n in range(6)))
    batches = [b for b in read_batches(job(path, batch_rows=10, resume_after=4)) if isinstance(b, Batch)]
    assert [(b.rows, b.phones) for b in batches] == [(3, ["+8613800000003", "+8613800000004", "+8613800000005"])]


def test_a_broken_file_ends_the_last_batch_with_its_problem():
    items = list(read_batches(job(DATA / "broken_quote.csv", batch_rows=100)))
    assert isinstance(items[0], Header)
    last = items[-1]
    assert (last.rows, len(last.phones), last.problem.code) == (2, 2, "broken_csv")


def test_problems_before_the_first_row_are_raised(tmp_path):
    with pytest.raises(FileProblem) as err:
        list(read_batches(job(write(tmp_path, "name\nA\n"))))
    assert err.value.code == "no_phone_column"


def test_lines_without_some_phones():
    batch = Batch(b"a\t+1\nb\t+2\nc\t+3\n", ["+1", "+2", "+3"])
    assert batch.lines_without(set()) == (batch.data, 3)
    assert batch.lines_without({"+2"}) == (b"a\t+1\nc\t+3\n", 2)
    assert batch.lines_without({"+1", "+2", "+3"}) == (b"", 0)


@pytest.mark.parametrize("in_process", [False, True])
async def test_reader_gives_the_same_items_in_a_thread_or_a_process(tmp_path, in_process):
    path = write(tmp_path, "phone,备注\n" + "".join(f"1380000{n:04d},\"x\\y\ttab\"\n" for n in range(50)) + "bad,\n")
    reader = BatchReader(job(path, batch_rows=20), in_process=in_process)
    items = []
    try:
        while (item := await reader.next()) is not None:
            items.append(item)
    finally:
        await reader.close()
    assert items == list(read_batches(job(path, batch_rows=20)))
    assert [b.rows for b in items[1:]] == [20, 20, 11]


async def test_a_file_problem_crosses_from_the_worker_process(tmp_path):
    reader = BatchReader(job(write(tmp_path, "name\nA\n")), in_process=True)
    try:
        with pytest.raises(FileProblem) as err:
            await reader.next()
        assert err.value.code == "no_phone_column" and "no phone column" in err.value.message
    finally:
        await reader.close()


async def test_closing_early_stops_the_worker_process(tmp_path):
    path = write(tmp_path, "phone\n" + "".join(f"1380{n:07d}\n" for n in range(200_000)))
    reader = BatchReader(job(path, batch_rows=1000), in_process=True)
    assert isinstance(await reader.next(), Header)
    process = reader._process
    await reader.close()
    assert process is not None and process.poll() is not None


@pytest.mark.parametrize("in_process", [False, True])
async def test_a_read_cancelled_midway_then_close(tmp_path, in_process):
    import asyncio

    path = write(tmp_path, "phone\n" + "".join(f"1380{n:07d}\n" for n in range(100_000)))
    reader = BatchReader(job(path, batch_rows=100_000), in_process=in_process)
    assert isinstance(await reader.next(), Header)
    reading = asyncio.create_task(reader.next())
    await asyncio.sleep(0.05)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await reader.close()  # waits for the read still running, then closes the file
    assert await reader.next() is None
