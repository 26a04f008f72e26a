"""The flow designers' API on a real PostgreSQL: list, view, validate, deploy (hot-loaded), versions, roll back,
with roles enforced: a campaign manager may look but not deploy."""
import shutil
import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.config import PROJECT_ROOT
from common.http_auth import auth_middleware
from ivr import http as flows_http
from ivr.flow_registry import FlowRegistry
from ivr.prompts import PromptCatalog

CARE = (PROJECT_ROOT / "flows" / "outbound_care.yaml").read_text(encoding="utf-8")


async def setup(pool, tmp_path):
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    for name in ("outbound_care.yaml", "hotline.yaml", "identify_customer.yaml"):
        shutil.copy(PROJECT_ROOT / "flows" / name, flows_dir / name)
    registry = FlowRegistry(flows_dir, PromptCatalog.load(PROJECT_ROOT / "prompts" / "catalog.yaml"))
    registry.load_all()
    api = web.Application()
    flows_http.add_routes(api, flows_http.FlowsContext(registry, pool, PROJECT_ROOT / "asterisk/conf/queues.conf"))
    app = web.Application(middlewares=[auth_middleware(lambda: pool)])
    app.add_subapp("/api/v1", api)
    client = TestClient(TestServer(app))
    await client.start_server()
    designer, manager = f"d{uuid.uuid4().hex[:8]}", f"m{uuid.uuid4().hex[:8]}"
    headers = {"designer": {"Authorization": "Bearer " + await users.add_user(pool, designer, "flow_designer", by="t")},
               "manager": {"Authorization": "Bearer " + await users.add_user(pool, manager, "campaign_manager",
                                                                             by="t")}}
    return client, registry, flows_dir, headers, designer


async def test_deploy_validate_versions_and_rollback(pool, tmp_path):
    client, registry, flows_dir, h, designer = await setup(pool, tmp_path)
    try:
        r = await client.get("/api/v1/flows", headers=h["manager"])
        body = await r.json()
        assert r.status == 200 and {f["name"] for f in body["flows"]} == {"outbound_care", "hotline",
                                                                          "identify_customer"}
        r = await client.get("/api/v1/flows/outbound_care", headers=h["manager"])
        one = await r.json()
        assert one["direction"] == "outbound" and one["mermaid"].startswith("flowchart") and one["text"] == CARE
        assert (await client.get("/api/v1/flows/nope", headers=h["manager"])).status == 404

        broken = CARE.replace("next: record_score", "next: nowhere", 1)
        r = await client.post("/api/v1/flows/outbound_care/validate", data=broken.encode(), headers=h["designer"])
        err = await r.json()
        assert r.status == 400 and err["error"]["code"] == "invalid_flow" and "nowhere" in err["error"]["message"]
        assert err["errors"][0]["line"] > 1 and err["errors"][0]["node"] == "score_1"

        changed = CARE.replace("timeout: 6", "timeout: 7", 1)
        r = await client.post("/api/v1/flows/outbound_care/deploy", data=changed.encode(), headers=h["manager"])
        assert r.status == 403  # managers do not deploy flows
        r = await client.post("/api/v1/flows/outbound_care/deploy", data=broken.encode(), headers=h["designer"])
        assert r.status == 400 and (flows_dir / "outbound_care.yaml").read_text(encoding="utf-8") == CARE
        r = await client.post("/api/v1/flows/outbound_care/deploy", data=changed.encode(), headers=h["designer"])
        deployed = await r.json()
        assert r.status == 200 and deployed["changed"] is True
        assert (flows_dir / "outbound_care.yaml").read_text(encoding="utf-8") == changed
        report = registry.reload_changed()  # what the IVR's watcher does every second
        assert [f.version for f in report.live] == [deployed["version"]]

        r = await client.get("/api/v1/flows/outbound_care/versions", headers=h["manager"])
        history = (await r.json())["history"]
        assert history[-1]["version"] == deployed["version"] and history[-1]["deployed_by"] == designer

        r = await client.post("/api/v1/flows/outbound_care/rollback", json={"version": "zz"}, headers=h["designer"])
        assert r.status == 400 and (await r.json())["error"]["field"] == "version"
        r = await client.post("/api/v1/flows/outbound_care/rollback", headers=h["designer"])
        back = await r.json()
        if r.status == 409:  # this database never saw the shipped version as live: deploy it to have one
            await client.post("/api/v1/flows/outbound_care/deploy", data=CARE.encode(), headers=h["designer"])
            await client.post("/api/v1/flows/outbound_care/deploy", data=changed.encode(), headers=h["designer"])
            r = await client.post("/api/v1/flows/outbound_care/rollback", headers=h["designer"])
            back = await r.json()
        assert r.status == 200, back
        assert (flows_dir / "outbound_care.yaml").read_text(encoding="utf-8") == CARE
    finally:
        await client.close()


async def test_bad_bodies_name_the_place(pool, tmp_path):
    client, _, _, h, _ = await setup(pool, tmp_path)
    try:
        for data, code in ((b"", "invalid_body"), (b"\xff\xfe\x00", "invalid_body"), (b"x" * 600_000, "too_large"),
                           (CARE.replace("flow: outbound_care", "flow: other").encode(), "invalid_flow"),
                           (b"flow: [unclosed", "invalid_flow")):
            r = await client.post("/api/v1/flows/outbound_care/validate", data=data, headers=h["designer"])
            body = await r.json()
            assert r.status in (400, 413) and body["error"]["code"] == code, (data[:20], body)
        r = await client.post("/api/v1/flows/bad%20name/validate", data=CARE.encode(), headers=h["designer"])
        assert r.status == 400 and (await r.json())["error"]["field"] == "name"
    finally:
        await client.close()
