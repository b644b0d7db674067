"""pgshift.migration.verify.changes: the keys a pgoutput stream touched. The chain tests read real streams
(tests/test_delta_verify.py,
tests/test_cutover.py); these build the protocol's messages byte by byte for the cases a test database rarely
makes: an old key on UPDATE, REPLICA IDENTITY FULL, TRUNCATE, an unchanged TOASTed key, a message it does not
know."""

from __future__ import annotations

import json
import struct

import pytest

from pgshift.migration.verify.changes import ChangeStreamError, PgOutputReader


def text(s: str) -> bytes:
    return s.encode() + b"\0"


def relation(relid: int, schema: str, name: str, columns: list[str]) -> bytes:
    out = b"R" + struct.pack("!i", relid) + text(schema) + text(name) + b"d" + struct.pack("!h", len(columns))
    for c in columns:
        out += b"\x01" + text(c) + struct.pack("!ii", 23, -1)
    return out


def tuple_data(*values: str | None | bool) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is False:
            out += b"u"
        else:
            raw = str(v).encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def key(**values: str) -> str:
    return json.dumps(values, sort_keys=True)


READER_KEYS = {("public", "t"): ["id", "k"], ("public", "nokey"): []}
T = relation(1, "public", "t", ["id", "k", "v"])
NOKEY = relation(2, "public", "nokey", ["a"])
OTHER = relation(3, "public", "not_in_scope", ["x"])


def test_insert_update_with_old_key_and_delete_give_every_key() -> None:
    changes = PgOutputReader(READER_KEYS).read([
        b"B" + b"\0" * 20, T,
        b"I" + struct.pack("!i", 1) + b"N" + tuple_data("1", "a", "x"),
        b"U" + struct.pack("!i", 1) + b"K" + tuple_data("2", "b", None) + b"N" + tuple_data("3", "b", "y"),
        b"D" + struct.pack("!i", 1) + b"K" + tuple_data("4", "c", None),
        b"C" + b"\0" * 25,
    ])
    assert changes.keys == {("public", "t"): {key(id="1", k="a"), key(id="2", k="b"), key(id="3", k="b"),
                                              key(id="4", k="c")}}
    assert changes.whole == {} and changes.changes == 3 and changes.transactions == 1


def test_replica_identity_full_old_rows_give_the_key_of_the_old_row() -> None:
    changes = PgOutputReader(READER_KEYS).read([
        T, b"U" + struct.pack("!i", 1) + b"O" + tuple_data("5", "e", "old") + b"N" + tuple_data("5", "e", "new"),
    ])
    assert changes.keys == {("public", "t"): {key(id="5", k="e")}}


def test_tables_without_a_key_truncated_or_with_an_unsent_key_are_checked_whole() -> None:
    changes = PgOutputReader(READER_KEYS).read([
        T, NOKEY, OTHER,
        b"I" + struct.pack("!i", 2) + b"N" + tuple_data("x"),
        b"U" + struct.pack("!i", 1) + b"N" + tuple_data(False, "f", "v"),
        b"I" + struct.pack("!i", 3) + b"N" + tuple_data("ignored"),
    ])
    assert changes.whole == {("public", "nokey"): "no primary key",
                             ("public", "t"): "a change did not carry every key column"}
    truncated = PgOutputReader(READER_KEYS).read([T, b"T" + struct.pack("!ib", 1, 0) + struct.pack("!i", 1)])
    assert truncated.whole == {("public", "t"): "truncated"}
    assert ("public", "not_in_scope") not in changes.keys
    assert changes.outside == {("public", "not_in_scope")}  # the caller refuses rather than skip it


def test_a_change_named_by_its_partition_is_keyed_under_the_partitioned_table() -> None:
    roots = {("public", "t_2026"): ("public", "t")}
    changes = PgOutputReader(READER_KEYS, roots).read([
        relation(7, "public", "t_2026", ["v", "k", "id"]),  # a partition's columns may come in another order
        b"I" + struct.pack("!i", 7) + b"N" + tuple_data("x", "g", "6"),
    ])
    assert changes.keys == {("public", "t"): {key(id="6", k="g")}} and not changes.outside


def test_a_message_it_does_not_know_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(ChangeStreamError, match="unknown pgoutput message 'S'"):
        PgOutputReader(READER_KEYS).read([b"S" + b"\0" * 8])
    with pytest.raises(ChangeStreamError, match="before its description"):
        PgOutputReader(READER_KEYS).read([b"I" + struct.pack("!i", 9) + b"N" + tuple_data("1")])
