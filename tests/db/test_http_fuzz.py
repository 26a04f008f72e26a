"""Hostile HTTP bodies: every write route of the real app gets random bytes, random JSON and wrong
types; none may crash (5xx), hang, or answer with anything but a JSON error naming the problem."""
import json
import re
import shutil
import uuid

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import users
from common.config import PROJECT_ROOT
from common.http_app import build_app
from common.openapi import api_routes
from ivr.flow_registry import FlowRegistry
from ivr.prompts import PromptCatalog
from tests.db.test_api_contract import sources
from tests.db.test_hopper import make_campaign

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                        max_size=4), max_leaves=12)
bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                   st.dictionaries(st.sampled_from(["kind", "name", "phone", "pack", "version", "campaign_id",
                                                    "flow", "dial_mode", "schedule", "retry_rules", "source", "note"]),
                                   json_values, max_size=6).map(lambda v: json.dumps(v).encode()))


async def test_random_bodies_never_crash_a_write_route(pool, tmp_path):
    flows_dir = tmp_path / "flows"
    shutil.copytree(PROJECT_ROOT / "flows", flows_dir, ignore=shutil.ignore_patterns("tests", "*.json", "*.md"))
    registry = FlowRegistry(flows_dir, PromptCatalog.load(PROJECT_ROOT / "prompts" / "catalog.yaml"))
    registry.load_all()
    app = build_app(pool, sources(), flows=registry)
    campaign_id = await make_campaign(pool, 1)
    token = await users.add_user(pool, f"fz{uuid.uuid4().hex[:8]}", "admin", by="t")
    writes = [(m, re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda x: {"campaign_id": str(campaign_id), "action": "pause",
                                                              "name": "outbound_care"}.get(x.group(1), "1"), p))
              for m, p, _ in api_routes(app) if m in ("POST", "PUT", "DELETE")
              and not p.endswith(("/deploy", "/rollback"))]  # deploys would rewrite the flows under test
    client = TestClient(TestServer(app))
    await client.start_server()
    tried = 0
    try:
        for method, path in writes:
            # hypothesis drives sync functions; run each example on this loop via a worker thread
            import asyncio
            import concurrent.futures

            loop = asyncio.get_running_loop()

            def run_examples():
                @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
                @given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", "text/yaml",
                                                                  "application/x-www-form-urlencoded"]))
                def example(body, content_type):
                    async def send():
                        r = await client.request(method, path, data=body, headers={
                            "Authorization": f"Bearer {token}", "Content-Type": content_type})
                        text = await r.text()
                        assert r.status < 500, (method, path, body[:80], r.status, text[:300])
                        if r.status >= 400:
                            error = json.loads(text)["error"]
                            assert error["code"] and error["message"], text
                    asyncio.run_coroutine_threadsafe(send(), loop).result(30)
                example()

            with concurrent.futures.ThreadPoolExecutor(1) as pool_:
                await loop.run_in_executor(pool_, run_examples)
            tried += 25
    finally:
        await client.close()
    print(f"\n{tried} hostile bodies over {len(writes)} write routes")
    assert len(writes) >= 6
