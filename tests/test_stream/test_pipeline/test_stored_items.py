"""Tests for stream.pipeline.faust_internals.stored: a key read on its partition, and the stored records walked while the table is written."""

from __future__ import annotations

import faust
import pytest
from faust.types import TP

from stream.pipeline.faust_internals.stored import stored_items, stored_reader
from stream.pipeline.stage_helpers import raw_table
from stream.settings import Settings


def make_table(store: str, tmp_path, *, write_buffer_mb: int = 4):
    app = faust.App("stored-test", broker="kafka://127.0.0.1:9", autodiscover=False, store=store, datadir=str(tmp_path))
    settings = Settings(topic_partitions=4, rocksdb_write_buffer_mb=write_buffer_mb)
    return app, raw_table(app, "users", settings)


def assign(app, table, partitions: set[int]) -> None:
    """The partitions the assignor reports as actively assigned (the store opens them on first use)."""
    topic = table.changelog_topic_name
    app.assignor.assigned_actives = lambda: {TP(topic, p) for p in partitions}


def test_memory_store_items_as_of_the_call_survive_writes_meanwhile(tmp_path):
    _app, table = make_table("memory://", tmp_path)
    store = table.data
    for i in range(5):
        store.data[f"u{i}".encode()] = f"v{i}".encode()
    items = stored_items(table)
    first = next(items)
    store.data[b"new"] = b"x"  # a new user between two slices: Faust's items() would raise here
    del store.data[b"u4"]
    assert [first, *items] == [(f"u{i}".encode(), f"v{i}".encode()) for i in range(5)]


def test_rocksdb_store_items_of_the_active_partitions_without_the_offset_key(tmp_path):
    app, table = make_table("rocksdb://", tmp_path)
    store = table.data
    topic = table.changelog_topic_name
    for partition in range(3):
        db = store._db_for_partition(partition)
        db[f"p{partition}-a".encode()] = b"1"
        db[f"p{partition}-b".encode()] = b"2"
        store.set_persisted_offset(TP(topic, partition), 41)  # the offset key Faust keeps in each database
    assign(app, table, {0, 2})
    items = stored_items(table)
    first = next(items)
    store._db_for_partition(0)[b"p0-z"] = b"x"  # written meanwhile: not in the view the walk reads
    store._db_for_partition(2)[b"p2-new"] = b"x"
    got = [first, *items]
    assert sorted(got) == [(b"p0-a", b"1"), (b"p0-b", b"2"), (b"p2-a", b"1"), (b"p2-b", b"2")]


@pytest.mark.parametrize("write_buffer_mb", [1, 4])
def test_rocksdb_write_buffer_size_comes_from_the_settings(tmp_path, write_buffer_mb):
    _app, table = make_table("rocksdb://", tmp_path, write_buffer_mb=write_buffer_mb)
    assert table.data.rocksdb_options.write_buffer_size == write_buffer_mb * 1024 * 1024


def test_rocksdb_reader_reads_the_partitions_database_only(tmp_path):
    _app, table = make_table("rocksdb://", tmp_path)
    store = table.data
    store._db_for_partition(1)[b"u-on-1"] = b"state-1"
    store._db_for_partition(2)[b"u-on-2"] = b"state-2"
    read_1 = stored_reader(table, 1)
    assert read_1(b"u-on-1") == b"state-1"
    assert read_1(b"u-on-2") is None  # on another partition: not looked for there
    assert read_1(b"nobody") is None
    assert stored_reader(table, 2)(b"u-on-2") == b"state-2"
    assert table.get(b"u-on-2") == b"state-2"  # what Faust's own read (every partition) finds too


def test_memory_reader_reads_the_one_dict_of_every_partition(tmp_path):
    _app, table = make_table("memory://", tmp_path)
    table.data.data[b"u"] = b"state"
    assert stored_reader(table, 3)(b"u") == b"state"
    assert stored_reader(table, 3)(b"nobody") is None
