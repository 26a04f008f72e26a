"""Campaigns in PostgreSQL, and the HTTP API over campaigns and lists (aiohttp test client)."""
from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dialer import campaigns
from dialer.http import campaigns_app

DATA = Path(__file__).resolve().parents[1] / "data"
CAMPAIGN = {"kind": "installments", "name": "Spring installments 分期", "caller_id": "+862195588",
            "trunk": "PJSIP/cn-mobile", "dial_mode": "preview", "agent_queue": "installments",
            "flow": "installment_offer"}


async def create(pool, **overrides) -> dict:
    return await campaigns.create_campaign(pool, campaigns.validate_campaign({**CAMPAIGN, **overrides}), by="alice")


# --- storage --------------------------------------------------------------------------------

async def test_create_and_read_back(pool):
    made = await create(pool, machine_policy="message", machine_target="installment_voicemail",
                        retry_rules={"busy": {"delay_seconds": 600}}, schedule={"windows": {"mon-fri": "09:00-18:00"}})
    got = await campaigns.get_campaign(pool, made["id"])
    assert {k: got[k] for k in made} == made
    assert (got["state"], got["created_by"], got["allowed_actions"]) == ("draft", "alice", ["start", "archive"])
    assert got["retry_rules"]["busy"] == {"delay_seconds": 600, "max_tries": 3}
    assert got["schedule"]["windows"] == {"mon-fri": "09:00-18:00"}
    assert got["contacts"] == {"total": 0, "by_status": {}}
    assert [(e["action"], e["from"], e["to"], e["by"]) for e in got["events"]] == [("create", None, "draft", "alice")]


async def test_the_whole_lifecycle_is_recorded_with_who_and_when(pool):
    cid = (await create(pool))["id"]
    steps = [("start", "bob", "running"), ("pause", "carol", "paused"), ("resume", "bob", "running"),
             ("pause", "bob", "paused"), ("finish", "dave", "finished"), ("archive", "erin", "archived")]
    for action, who, state in steps:
        assert (await campaigns.apply_action(pool, cid, action, by=who))["state"] == state
    got = await campaigns.get_campaign(pool, cid)
    assert got["allowed_actions"] == []
    events = got["events"]
    assert [(e["action"], e["from"], e["to"], e["by"]) for e in events[1:]] == [
        ("start", "draft", "running", "bob"), ("pause", "running", "paused", "carol"),
        ("resume", "paused", "running", "bob"), ("pause", "running", "paused", "bob"),
        ("finish", "paused", "finished", "dave"), ("archive", "finished", "archived", "erin")]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


async def test_an_illegal_transition_changes_nothing(pool):
    cid = (await create(pool))["id"]
    with pytest.raises(campaigns.IllegalTransition, match="cannot pause a campaign that is draft"):
        await campaigns.apply_action(pool, cid, "pause", by="bob")
    got = await campaigns.get_campaign(pool, cid)
    assert got["state"] == "draft" and len(got["events"]) == 1
    with pytest.raises(campaigns.CampaignNotFound):
        await campaigns.apply_action(pool, 10**9, "start", by="bob")


async def test_two_starts_at_once_start_it_once(pool):
    cid = (await create(pool))["id"]
    results = await asyncio.gather(*(campaigns.apply_action(pool, cid, "start", by=f"u{i}") for i in range(3)),
                                   return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, campaigns.IllegalTransition) for r in results) == 2
    assert [e["action"] for e in (await campaigns.get_campaign(pool, cid))["events"]] == ["create", "start"]


async def test_list_filters_by_state(pool):
    a, b = (await create(pool))["id"], (await create(pool))["id"]
    await campaigns.apply_action(pool, b, "start", by="bob")
    running = [c["id"] for c in await campaigns.list_campaigns(pool, state="running")]
    drafts = [c["id"] for c in await campaigns.list_campaigns(pool, state="draft")]
    assert b in running and a not in running and a in drafts
    assert [c["id"] for c in await campaigns.list_campaigns(pool, limit=2)] == [b, a]  # newest first


# --- HTTP -----------------------------------------------------------------------------------

@pytest.fixture
async def client(pool):
    """The API as the service will serve it: the campaign routes on the /api/v1 application."""
    api = web.Application()
    campaigns_app(pool, api)
    app = web.Application()
    app.add_subapp("/api/v1", api)
    async with TestClient(TestServer(app)) as c:
        yield c


def form(data: bytes, filename: str = "list.csv", columns: dict | None = None) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("file", data, filename=filename, content_type="text/csv")
    if columns is not None:
        body.add_field("columns", json.dumps(columns), content_type="application/json")
    return body


async def expect_error(response, status: int, code: str, field: str | None) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["code"] == code and body["error"]["field"] == field and body["error"]["message"]
    return body


async def test_http_create_get_and_list(client):
    r = await client.post("/api/v1/campaigns", json=CAMPAIGN, headers={"X-User": "张经理"})
    assert r.status == 201
    made = await r.json()
    assert r.headers["Location"] == f"/api/v1/campaigns/{made['id']}"
    assert (made["state"], made["created_by"], made["name"]) == ("draft", "张经理", CAMPAIGN["name"])
    r = await client.get(r.headers["Location"])
    assert r.status == 200 and (await r.json())["events"][0]["by"] == "张经理"
    r = await client.get("/api/v1/campaigns", params={"state": "draft", "limit": "5"})
    assert made["id"] in [c["id"] for c in (await r.json())["campaigns"]]


async def test_http_validation_errors_name_the_field(client):
    await expect_error(await client.post("/api/v1/campaigns", json={**CAMPAIGN, "dial_mode": "blaster"}),
                       400, "invalid_field", "dial_mode")
    await expect_error(await client.post("/api/v1/campaigns",
                                         json={**CAMPAIGN, "retry_rules": {"busy": {"delay_seconds": 1}}}),
                       400, "invalid_field", "retry_rules.busy.delay_seconds")
    await expect_error(await client.post("/api/v1/campaigns", data=b"{not json",
                                         headers={"Content-Type": "application/json"}), 400, "invalid_json", None)
    await expect_error(await client.post("/api/v1/campaigns", json=CAMPAIGN, headers={"X-User": "x" * 101}),
                       400, "invalid_parameter", "X-User")
    await expect_error(await client.get("/api/v1/campaigns", params={"state": "gone"}),
                       400, "invalid_parameter", "state")
    await expect_error(await client.get("/api/v1/campaigns", params={"limit": "x"}), 400, "invalid_parameter", "limit")
    await expect_error(await client.get("/api/v1/campaigns/abc"), 400, "invalid_parameter", "campaign_id")
    await expect_error(await client.get("/api/v1/campaigns/999999999"), 404, "not_found", "campaign_id")


async def test_http_actions(client):
    cid = (await (await client.post("/api/v1/campaigns", json=CAMPAIGN)).json())["id"]
    r = await client.post(f"/api/v1/campaigns/{cid}/actions/start", headers={"X-User": "ops"})
    assert r.status == 200 and (await r.json())["state"] == "running"
    body = await expect_error(await client.post(f"/api/v1/campaigns/{cid}/actions/resume"),
                              409, "illegal_transition", "action")
    assert body["state"] == "running" and body["allowed_actions"] == ["pause", "finish"]
    assert "cannot resume a campaign that is running" in body["error"]["message"]
    await expect_error(await client.post(f"/api/v1/campaigns/{cid}/actions/explode"), 404, "unknown_action", "action")
    await expect_error(await client.post("/api/v1/campaigns/999999999/actions/start"), 404, "not_found",
                       "campaign_id")
    events = (await (await client.get(f"/api/v1/campaigns/{cid}")).json())["events"]
    assert [(e["action"], e["by"]) for e in events] == [("create", "api"), ("start", "ops")]


async def test_http_upload_counts_report_and_repeat(client):
    cid = (await (await client.post("/api/v1/campaigns", json=CAMPAIGN)).json())["id"]
    data = (DATA / "contacts_gbk.csv").read_bytes()
    r = await client.post(f"/api/v1/campaigns/{cid}/lists", data=form(data, "名单.csv"), headers={"X-User": "ops"})
    assert r.status == 201, await r.text()
    up = await r.json()
    assert (up["filename"], up["status"], up["encoding"], up["uploaded_by"], up["repeat"]) == \
        ("名单.csv", "done", "gb18030", "ops", False)
    assert up["rows"] == {"total": 7, "accepted": 3, "rejected": 3, "duplicate_in_file": 1, "duplicate_in_campaign": 0}
    assert r.headers["Location"] == f"/api/v1/uploads/{up['id']}"
    assert up["errors_csv"] == f"/api/v1/uploads/{up['id']}/errors.csv"

    r = await client.get(r.headers["Location"])
    assert r.status == 200 and (await r.json())["rows"] == up["rows"]

    r = await client.get(up["errors_csv"])
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="upload-{up["id"]}-errors.csv"' in r.headers["Content-Disposition"]
    text = (await r.read()).decode("utf-8")
    assert text.startswith("\ufeffrow,column,reason\r\n")
    assert [row[:2] for row in csv.reader(io.StringIO(text[1:]))] == [["row", "column"], ["4", "手机"], ["6", "金额"],
                                                                      ["7", "到期日"]]

    r = await client.post(f"/api/v1/campaigns/{cid}/lists", data=form(data, "again.csv"))
    assert r.status == 200
    again = await r.json()
    assert again["repeat"] is True and again["id"] == up["id"] and again["rows"] == up["rows"]

    r = await client.get(f"/api/v1/campaigns/{cid}/lists")
    assert [u["id"] for u in (await r.json())["uploads"]] == [up["id"]]
    campaign = await (await client.get(f"/api/v1/campaigns/{cid}")).json()
    assert campaign["contacts"] == {"total": 3, "by_status": {"new": 3}}


async def test_http_upload_of_a_bad_file_is_a_422_with_the_upload(client):
    cid = (await (await client.post("/api/v1/campaigns", json=CAMPAIGN)).json())["id"]
    body = await expect_error(
        await client.post(f"/api/v1/campaigns/{cid}/lists", data=form("姓名\n张三\n".encode(), "x.csv")),
        422, "no_phone_column", "file")
    assert body["upload"]["status"] == "failed" and body["upload"]["error"]["code"] == "no_phone_column"
    body = await expect_error(
        await client.post(f"/api/v1/campaigns/{cid}/lists", data=form((DATA / "broken_quote.csv").read_bytes())),
        422, "broken_csv", "file")
    assert "line 4" in body["error"]["message"] and "2 accepted" in body["error"]["message"]
    # the header problem is fixed by naming the column
    r = await client.post(f"/api/v1/campaigns/{cid}/lists",
                          data=form("Contact\n13800000001\n".encode(), columns={"phone": "Contact"}))
    assert r.status == 201 and (await r.json())["rows"]["accepted"] == 1


async def test_http_xlsx_upload(client, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["手机", "姓名"])
    wb.active.append([13800000001, "张三"])
    wb.save(tmp_path / "l.xlsx")
    cid = (await (await client.post("/api/v1/campaigns", json=CAMPAIGN)).json())["id"]
    r = await client.post(f"/api/v1/campaigns/{cid}/lists", data=form((tmp_path / "l.xlsx").read_bytes(), "l.xlsx"))
    assert r.status == 201, await r.text()
    assert (await r.json())["format"] == "xlsx"


async def test_http_upload_refusals(client, pool):
    cid = (await (await client.post("/api/v1/campaigns", json=CAMPAIGN)).json())["id"]
    url = f"/api/v1/campaigns/{cid}/lists"
    await expect_error(await client.post(url, data=b"phone\n1\n", headers={"Content-Type": "text/csv"}),
                       415, "unsupported_media_type", "file")
    no_file = aiohttp.FormData(default_to_multipart=True)
    no_file.add_field("columns", "{}")
    await expect_error(await client.post(url, data=no_file), 400, "missing_file", "file")
    await expect_error(await client.post(url, data=form(b"phone\n13800000001\n", columns={"fone": "x"})),
                       400, "invalid_columns", "columns")
    bad_json = aiohttp.FormData()
    bad_json.add_field("file", b"phone\n13800000001\n", filename="a.csv")
    bad_json.add_field("columns", "{oops")
    await expect_error(await client.post(url, data=bad_json), 400, "invalid_columns", "columns")
    await expect_error(await client.post("/api/v1/campaigns/999999999/lists", data=form(b"phone\n13800000001\n")),
                       404, "not_found", "campaign_id")
    await campaigns.apply_action(pool, cid, "archive", by="test")
    await expect_error(await client.post(url, data=form(b"phone\n13800000001\n")), 409, "campaign_closed",
                       "campaign_id")
    await expect_error(await client.get("/api/v1/uploads/999999999"), 404, "not_found", "upload_id")
    await expect_error(await client.get("/api/v1/uploads/999999999/errors.csv"), 404, "not_found", "upload_id")


async def test_http_upload_size_limit(pool, tmp_path):
    app = campaigns_app(pool, max_upload_bytes=1024, upload_dir=str(tmp_path))  # standalone, mounted alone
    root = web.Application()
    root.add_subapp("/api/v1", app)
    async with TestClient(TestServer(root)) as client:
        cid = (await (await client.post("/api/v1/campaigns", json=CAMPAIGN)).json())["id"]
        big = b"phone\n" + b"13800000001\n" * 200
        await expect_error(await client.post(f"/api/v1/campaigns/{cid}/lists", data=form(big)), 413,
                           "file_too_large", "file")
        r = await client.post(f"/api/v1/campaigns/{cid}/lists", data=form(b"phone\n13800000001\n"))
        assert r.status == 201
    assert list(tmp_path.iterdir()) == []  # temporary files are removed either way


# --- CLI ------------------------------------------------------------------------------------

def test_cli_campaigns(database_url, monkeypatch, capsys):
    from dialer.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["campaigns", "create", "--kind", "care", "--name", "Welcome calls", "--caller-id", "95588",
                 "--trunk", "PJSIP/cn-mobile", "--dial-mode", "power", "--queue", "care", "--flow", "welcome",
                 "--schedule", '{"windows": {"mon-sat": "10:00-19:00"}}', "--by", "cli-user", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["kind"], made["dial_mode"], made["created_by"]) == ("care", "power", "cli-user")
    assert made["schedule"]["windows"] == {"mon-sat": "10:00-19:00"}

    assert main(["campaigns", "start", str(made["id"]), "--by", "cli-user"]) == 0
    assert f"campaign {made['id']} is now running" in capsys.readouterr().out
    assert main(["campaigns", "start", str(made["id"])]) == 1
    assert "cannot start a campaign that is running" in capsys.readouterr().err
    assert main(["campaigns", "list", "--state", "running"]) == 0
    assert "Welcome calls" in capsys.readouterr().out
    assert main(["campaigns", "show", str(made["id"])]) == 0
    shown = capsys.readouterr().out
    assert "draft -> running" in shown and "by cli-user" in shown
    assert main(["campaigns", "create", "--kind", "care", "--name", "x", "--caller-id", "95588", "--trunk", "T",
                 "--dial-mode", "power", "--queue", "care", "--flow", "f", "--region", "XX"]) == 2
    assert "unknown region" in capsys.readouterr().err
    assert main(["campaigns", "show", "999999999"]) == 1
    assert "no campaign 999999999" in capsys.readouterr().err
