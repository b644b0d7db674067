"""What changed, read from the WAL: the keys of the rows a stream of pgoutput messages touched.

The cutover's delta check (:mod:`pgshift.migration.verify.delta`) decodes a slot of its own on B with ``pgoutput``
(protocol 1,
the chain's publication, so exactly the migrated tables) and needs, per table, the primary keys of every row
inserted, updated (old and new key) or deleted. pgoutput is PostgreSQL's own replication protocol: values come
as their type's text output, which the type's input function reads back, so a key found here is looked up
exactly (see ``rows_by_key.sql``). No text format is parsed.

A table without a primary key, a TRUNCATE, or a change whose key columns are not all in the message (an
unchanged TOASTed key) cannot be checked row by row: the table is marked for a whole-table check instead,
with the reason. A change is named by its partition; ``roots`` maps each partition to the partitioned table
that is verified. A change to any other table is recorded in ``outside``: the caller cannot vouch for it.

Message layouts: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Table = tuple[str, str]
_INT16, _INT32 = struct.Struct("!h"), struct.Struct("!i")


class ChangeStreamError(Exception):
    """A message this reader does not understand: the delta check cannot vouch for what changed."""


@dataclass
class ChangeSet:
    """Keys changed per table (JSON objects of the key columns' text), and the tables to check whole."""

    keys: dict[Table, set[str]] = field(default_factory=dict)
    whole: dict[Table, str] = field(default_factory=dict)  # table -> why it is checked whole
    changes: int = 0  # row changes read
    transactions: int = 0
    outside: set[Table] = field(default_factory=set)  # changed tables that are not among those verified

    @property
    def key_count(self) -> int:
        return sum(len(k) for k in self.keys.values())

    def merge(self, other: ChangeSet) -> None:
        for table, keys in other.keys.items():
            self.keys.setdefault(table, set()).update(keys)
        for table, why in other.whole.items():
            self.whole.setdefault(table, why)
        self.changes += other.changes
        self.transactions += other.transactions
        self.outside |= other.outside

    def summary(self) -> dict[str, object]:
        return {"transactions": self.transactions, "row_changes": self.changes, "keys": self.key_count,
                "tables_by_key": sorted(f"{s}.{t}" for s, t in self.keys),
                "tables_whole": {f"{s}.{t}": why for (s, t), why in sorted(self.whole.items())},
                "tables_outside": sorted(f"{s}.{t}" for s, t in self.outside)}


@dataclass(frozen=True)
class _Relation:
    table: Table
    columns: tuple[str, ...]


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ChangeStreamError("a pgoutput message ended early")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self) -> str:
        return self.take(1).decode("ascii")

    def int16(self) -> int:
        return int(_INT16.unpack(self.take(2))[0])

    def int32(self) -> int:
        return int(_INT32.unpack(self.take(4))[0])

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        out = self.data[self.pos:end].decode()
        self.pos = end + 1
        return out

    def tuple_data(self) -> list[str | None | bool]:
        """Each column's text; None for NULL, False for an unchanged TOASTed value (not sent)."""
        out: list[str | None | bool] = []
        for _ in range(self.int16()):
            kind = self.byte()
            if kind == "n":
                out.append(None)
            elif kind == "u":
                out.append(False)
            elif kind in ("t", "b"):
                out.append(self.take(self.int32()).decode() if kind == "t" else False)
            else:
                raise ChangeStreamError(f"unknown tuple column kind {kind!r}")
        return out


class PgOutputReader:
    """Turns pgoutput protocol-1 messages into a :class:`ChangeSet` for the tables whose keys it is given.

    :param primary_keys: table -> its primary key's columns (empty: no primary key)
    :param roots: partition -> the partitioned table at its root (one of ``primary_keys``)
    """

    def __init__(self, primary_keys: Mapping[Table, list[str]], roots: Mapping[Table, Table] | None = None) -> None:
        self.primary_keys = dict(primary_keys)
        self.roots = dict(roots or {})
        self.relations: dict[int, _Relation] = {}

    def read(self, messages: Iterable[bytes]) -> ChangeSet:
        out = ChangeSet()
        for message in messages:
            self._message(_Buffer(bytes(message)), out)
        return out

    def _message(self, buf: _Buffer, out: ChangeSet) -> None:
        kind = buf.byte()
        if kind == "R":
            relid = buf.int32()
            schema, name = buf.string(), buf.string()
            buf.take(1)  # replica identity
            columns = []
            for _ in range(buf.int16()):
                buf.take(1)  # flags: "part of the key" follows the replica identity, not the primary key
                columns.append(buf.string())
                buf.take(8)  # type oid, typmod
            self.relations[relid] = _Relation(self.roots.get((schema, name), (schema, name)), tuple(columns))
        elif kind == "C":
            out.transactions += 1
        elif kind == "I":
            rel = self._relation(buf.int32())
            if buf.byte() != "N":
                raise ChangeStreamError("an INSERT without its new tuple")
            self._key(rel, buf.tuple_data(), out)
        elif kind == "U":
            rel = self._relation(buf.int32())
            part = buf.byte()
            if part in ("K", "O"):  # the old key (key changed) or the old row (REPLICA IDENTITY FULL)
                self._key(rel, buf.tuple_data(), out, count=False)
                part = buf.byte()
            if part != "N":
                raise ChangeStreamError("an UPDATE without its new tuple")
            self._key(rel, buf.tuple_data(), out)
        elif kind == "D":
            rel = self._relation(buf.int32())
            if buf.byte() not in ("K", "O"):
                raise ChangeStreamError("a DELETE without its old key")
            self._key(rel, buf.tuple_data(), out)
        elif kind == "T":
            count = buf.int32()
            buf.take(1)  # options
            for _ in range(count):
                table = self._relation(buf.int32()).table
                if table in self.primary_keys:
                    out.whole[table] = "truncated"
                else:
                    out.outside.add(table)
            out.changes += 1
        elif kind in ("B", "O", "Y", "M"):
            return  # begin, origin, type, message: nothing about rows
        else:
            raise ChangeStreamError(f"unknown pgoutput message {kind!r}")

    def _relation(self, relid: int) -> _Relation:
        rel = self.relations.get(relid)
        if rel is None:
            raise ChangeStreamError(f"a change to relation {relid} before its description")
        return rel

    def _key(self, rel: _Relation, values: list[str | None | bool], out: ChangeSet, *, count: bool = True) -> None:
        if count:
            out.changes += 1
        pk = self.primary_keys.get(rel.table)
        if pk is None:
            out.outside.add(rel.table)
            return
        if not pk:
            out.whole.setdefault(rel.table, "no primary key")
            return
        row = dict(zip(rel.columns, values, strict=True))
        key = {c: row.get(c) for c in pk}
        if any(not isinstance(v, str) for v in key.values()):
            out.whole.setdefault(rel.table, "a change did not carry every key column")
            return
        out.keys.setdefault(rel.table, set()).add(json.dumps(key, sort_keys=True))
