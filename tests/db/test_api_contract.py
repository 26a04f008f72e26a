"""The whole HTTP API as the service builds it: every route documented and guarded, the OpenAPI
document matching the real routes, the role matrix (every role x every write route), bad bodies."""
import re
import shutil
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.auth import ROLES, role_allows
from common.config import PROJECT_ROOT
from common.http_app import HealthSources, build_app
from common.http_auth import permission_of
from common.openapi import api_routes
from ivr.flow_registry import FlowRegistry
from ivr.prompts import PromptCatalog
from tests.db.test_hopper import make_campaign


def sources():
    async def database():
        return {"ok": True}
    return HealthSources(database, lambda: {"state": "connected"}, lambda: {"ok": True}, lambda: {})


def the_app(pool, tmp_path):
    flows_dir = tmp_path / "flows"
    shutil.copytree(PROJECT_ROOT / "flows", flows_dir, ignore=shutil.ignore_patterns("tests", "*.json", "*.md"))
    registry = FlowRegistry(flows_dir, PromptCatalog.load(PROJECT_ROOT / "prompts" / "catalog.yaml"))
    registry.load_all()
    return build_app(pool, sources(), flows=registry)


async def test_every_api_route_is_documented_and_guarded(pool, tmp_path):
    app = the_app(pool, tmp_path)
    routes = api_routes(app)
    assert len(routes) >= 20
    for method, path, handler in routes:
        if path == "/api/v1/openapi.json":
            continue
        assert permission_of(handler), f"{method} {path} has no permission"
        assert (handler.__doc__ or "").strip(), f"{method} {path} has no summary"
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.get("/api/v1/openapi.json")
        doc = await r.json()
        documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        real = {(m, re.sub(r"\{([^}:]+)(:[^}]*)?\}", r"{\1}", p)) for m, p, _ in routes}
        assert documented == real
        assert all(op.get("x-permission") for p, ops in doc["paths"].items() for op in ops.values()
                   if p != "/api/v1/openapi.json")
    finally:
        await client.close()


def example_path(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: ids.get(m.group(1), "1"), path)


async def test_role_matrix_on_every_write_route(pool, tmp_path):
    app = the_app(pool, tmp_path)
    campaign_id = await make_campaign(pool, 1)
    ids = {"campaign_id": str(campaign_id), "action": "pause", "name": "outbound_care", "upload_id": "1"}
    tokens = {role: await users.add_user(pool, f"{role[:8]}{uuid.uuid4().hex[:8]}", role, by="t") for role in ROLES}
    writes = [(m, p, h) for m, p, h in api_routes(app) if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert len(writes) >= 5
    client = TestClient(TestServer(app))
    await client.start_server()
    checked = 0
    try:
        for method, path, handler in writes:
            url = example_path(path, ids)
            for role, token in tokens.items():
                r = await client.request(method, url, data=b"{}",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
                allowed = role_allows(role, permission_of(handler))
                if allowed:
                    assert r.status not in (401, 403), (role, method, path, r.status, await r.text())
                else:
                    body = await r.json()
                    assert r.status == 403 and body["error"]["code"] == "forbidden", (role, method, path, r.status)
                checked += 1
            r = await client.request(method, url, data=b"{}")
            assert r.status == 401  # no credentials: never in
    finally:
        await client.close()
    assert checked == len(writes) * len(ROLES)


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/api/v1/campaigns", b"not json", None),
    ("POST", "/api/v1/campaigns", b'{"kind": "lottery"}', "kind"),
    ("POST", "/api/v1/flows/outbound_care/validate", b"flow: [", "body"),
    ("POST", "/api/v1/flows/outbound_care/rollback", b"[1, 2]", "body"),
    ("GET", "/api/v1/calls?limit=0", None, "limit"),
])
async def test_bad_bodies_are_400_naming_the_field(pool, tmp_path, method, path, body, field):
    app = the_app(pool, tmp_path)
    campaign_id = await make_campaign(pool, 1)
    token = await users.add_user(pool, f"a{uuid.uuid4().hex[:8]}", "admin", by="t")
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.request(method, path.replace("{campaign_id}", str(campaign_id)), data=body,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        answer = await r.json()
        assert r.status == 400, answer
        assert answer["error"]["code"] and answer["error"]["message"]
        if field:
            assert answer["error"]["field"] == field, answer
    finally:
        await client.close()
