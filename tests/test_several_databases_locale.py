"""A database the setup creates on C is A's twin: A's encoding, LC_COLLATE, LC_CTYPE and locale provider; a locale C
cannot use is refused, naming the database and the locale, before any database of the chain is created; a database
C already has in another encoding than A's is a preflight problem. On the shared servers, with a database made on A
here (no setup run: the database step is called as the schema task calls it)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from chain_helpers import chain_config
from pgcluster import DATABASE


def q(cl, node, query: str, params=None, db: str = DATABASE) -> list[tuple]:
    return cl.sql(node, query, params, db)


ODD = "latin"  # on A in LATIN1 with the builtin provider: not template1's (UTF8, libc)


def _locale(cl, node, db: str) -> list[tuple]:
    return q(cl, node, "SELECT pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider, datlocale "
                       "FROM pg_database WHERE datname = %s", (db,))


@pytest.fixture
def odd(clusters):
    cl = clusters
    for node in (cl.a, cl.c):
        q(cl, node, f'DROP DATABASE IF EXISTS "{ODD}" WITH (FORCE)', db="postgres")
    q(cl, cl.a, f"CREATE DATABASE \"{ODD}\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' "
                "LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C'", db="postgres")
    yield cl, chain_config(cl, databases=[DATABASE, ODD]).database_chains()[1]
    for node in (cl.a, cl.c):
        q(cl, node, f'DROP DATABASE IF EXISTS "{ODD}" WITH (FORCE)', db="postgres")


def test_a_database_made_on_c_has_a_s_encoding_and_locale(odd):
    from pgshift.migration.setup.databases import ensure_database_on_c, locale_problem

    cl, part = odd
    assert _locale(cl, cl.c, "template1") != _locale(cl, cl.a, ODD)  # C's default would not do
    assert locale_problem(part) is None
    assert ensure_database_on_c(part)[0] is True
    assert _locale(cl, cl.c, ODD) == _locale(cl, cl.a, ODD) == [("LATIN1", "C", "C", "b", "C")]


def test_a_locale_c_lacks_is_refused_before_any_database_is_created(odd, monkeypatch):
    """A's database in a locale C's operating system lacks (A's reading stands for another host's): the schema
    task names the database and the locale, and creates none of the chain's databases."""
    from airflow.sdk.exceptions import AirflowFailException

    from pgshift.migration.hooks.primary import PrimaryHook
    from pgshift.migration.operators.schema import CopySchemaOperator

    cl, _ = odd
    read = PrimaryHook.database_locale

    def elsewhere(self, name):
        found = read(self, name)
        return replace(found, collate="xx_XX.UTF-8", ctype="xx_XX.UTF-8", provider="libc", locale=None) \
            if name == ODD else found

    monkeypatch.setattr(PrimaryHook, "database_locale", elsewhere)
    q(cl, cl.a, "CREATE DATABASE early", db="postgres")  # a database before it in the chain: not created either
    try:
        op = CopySchemaOperator(task_id="copy_schema_to_c", config=chain_config(cl, databases=["early", ODD]))
        with pytest.raises(AirflowFailException) as refused:
            op.execute({"dag": SimpleNamespace(dag_id="hybrid_aurora_migration")})
        assert q(cl, cl.c, "SELECT datname FROM pg_database WHERE datname = ANY (%s)", (["early", ODD],)) == []
    finally:
        q(cl, cl.a, "DROP DATABASE early", db="postgres")
    message = str(refused.value)
    assert message.startswith("No database was created on C:\n  - database latin: C cannot create it as A has it "
                              "(encoding LATIN1, LC_COLLATE xx_XX.UTF-8, LC_CTYPE xx_XX.UTF-8, provider libc)"), message
    assert "xx_XX.UTF-8" in message.split("):", 1)[1], message  # C's own error names the locale too
    assert "database early" not in message


def test_a_database_on_c_in_another_encoding_is_a_preflight_problem(odd):
    from pgshift.migration.preflight.checks import check_c

    cl, part = odd
    q(cl, cl.c, f"CREATE DATABASE \"{ODD}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
      db="postgres")
    problems = check_c(part, [], database_on_c=True).problems
    assert [p for p in problems if "encoding" in p] == [
        "database latin: encoding UTF8 on C, LATIN1 on A: every text would be converted, and a character C's "
        "encoding lacks refused; drop the database on C (setup creates it as A has it: encoding LATIN1, LC_COLLATE "
        "C, LC_CTYPE C, provider builtin (C)), or recreate it in LATIN1"], problems
