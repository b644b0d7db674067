"""The typed switchover report gives the JSON the string-keyed report gave: a key only once a phase set it, keys in
the order they were first set, the fallback's final LSN under ``c_final_lsn``. (tests/test_cutover.py and
tests/test_fallback.py read the reports real runs write.)"""

from __future__ import annotations

import json

from pgshift.common.report import cutover_summary
from pgshift.migration.switchover.fallback.run import summary as fallback_summary
from pgshift.migration.switchover.report import (
    CutoverReport,
    FallbackReport,
    LoginProof,
    RoleChange,
    RoleChanges,
    VerifySection,
    WayBack,
)
from pgshift.migration.switchover.state import Outcome


def test_keys_in_the_order_first_set_and_only_once_set():
    report = CutoverReport("dag", "run-1", dry_run=False, mode="native")
    rounds: list[dict[str, object]] = []
    verify = report.verify = VerifySection("delta")
    verify.rounds = rounds
    row = {"table": "public.t", "source_rows": 1, "source_hash": "h", "target_rows": 1, "target_hash": "h"}
    report.tables = [{**row, "status": "equal"}]
    report.gate = {"lag_bytes": 0}
    report.final_lsn = "0/10"
    report.tables = [{**row, "status": "differs"}]  # set again: stays where it was first set
    rounds.append({"kind": "full"})  # the check's own list, grown after it was noted
    report.roles = RoleChanges(True, [RoleChange("app", "created")], [])
    report.login_proof = [LoginProof("app", "password", "public.t", None, 0, 0.25)]
    way_back = report.fallback = WayBack(armed=True)
    way_back.subscription = "back"
    report.status = Outcome.ROLLED_BACK
    report.error = "boom"

    data = json.loads(json.dumps(report.as_dict(), default=str))
    assert list(data) == ["dag_id", "run_id", "action", "dry_run", "mode", "started_at", "timeline", "verify",
                          "tables", "gate", "final_lsn", "roles", "login_proof", "fallback", "status", "error"]
    assert data["action"] == "cutover" and data["status"] == "rolled back"
    assert data["verify"] == {"method": "delta", "rounds": [{"kind": "full"}]}
    assert data["tables"] == [{**row, "status": "differs"}]
    assert data["roles"] == {"applied": True, "changes": [{"role": "app", "change": "created"}], "warnings": []}
    assert data["login_proof"] == [{"role": "app", "how": "password", "read": "public.t", "wrote": None,
                                    "rows_written": 0, "seconds": 0.25}]
    assert data["fallback"] == {"armed": True, "subscription": "back"}
    assert report.write_downtime_seconds is None and "write_downtime_seconds" not in data
    assert cutover_summary(data).startswith("Cutover ROLLED BACK (native mode, run run-1)\n  reason: boom")


def test_the_fallback_names_its_final_lsn_after_c():
    report = FallbackReport("dag", "run-2", dry_run=True)
    report.final_lsn = "0/20"
    report.status = Outcome.DRY_RUN_PASSED
    data = report.as_dict()
    assert list(data) == ["dag_id", "run_id", "action", "dry_run", "started_at", "timeline", "c_final_lsn", "status"]
    assert data["c_final_lsn"] == "0/20" and data["action"] == "fallback"
    assert fallback_summary(data).startswith("Fallback DRY RUN DRY RUN PASSED (run run-2)")


def test_the_summary_of_several_databases_names_each_one_with_its_tables_and_sequences():
    table = {"table": "public.carts", "status": "equal", "source_rows": 3, "target_rows": 3, "source_hash": "9"}
    part = {"verify": {"method": "delta", "rows_verified_before_fence": 3, "rounds": [],
                       "forecast": {"seconds": 0.2}},  # a part's forecast has no limit of its own: the set's is judged
            "tables": [table], "sequences": [{"sequence": "public.carts_id_seq", "a_last_value": 3, "action": "set"}]}
    report = {"status": "ready", "mode": "native", "run_id": "r", "forecast": {"seconds": 0.5},
              "databases": {"pgshift": {"tables": []}, "shop": part}, "finalized": ["pgshift", "shop"]}
    text = cutover_summary(report)
    shop = text.split("  database shop\n")[1]
    assert "  database pgshift\n" in text and "predicted for the set" in text
    assert "    table public.carts" in shop and "    sequence public.carts_id_seq" in shop
    assert "0.200 s of write downtime predicted\n" in shop
    assert text.endswith("finalized         pgshift, shop")
