"""The `http` node and its back-end client, against the bank stub over real HTTP.

Every test flow has one `call` node whose exits each lead to their own
hangup node, so the path shows which exit was taken.
"""
import logging
import socket
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.bank_backend import DEMO_CUSTOMERS, create_app, serve
from ivr.backend import RETRY_BACKOFF_S, BackendClient, BackendConfig, BackendConfigError, fill_path
from ivr.call import CallContext, Services
from ivr.call_log import CallStart, MemoryCallLog, StepRecord
from ivr.fake_channel import ScriptedChannel
from ivr.flow import Flow, parse_flow
from ivr.nodes import FlowError
from ivr.nodes.http import HttpNode
from ivr.runner import CallOutcome, FlowRunner

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_BACKENDS = ROOT / "flows" / "backends" / "backends.yaml"
TOKEN = "token-for-tests"
LI_NA = next(c for c in DEMO_CUSTOMERS if c.customer_id == "C1002")

# One back-end per behaviour of the stub; the fault headers ride along with every request.
BACKENDS = """\
backends:
  bank:
    base_url: "${BANK_API_URL}"
    headers: {Authorization: "Bearer ${BANK_API_TOKEN}"}
  bank_bad_token:
    base_url: "${BANK_API_URL}"
    headers: {Authorization: "Bearer wrong"}
  bank_error:
    base_url: "${BANK_API_URL}"
    headers: {Authorization: "Bearer ${BANK_API_TOKEN}", X-Stub-Fault: error}
  bank_garbage:
    base_url: "${BANK_API_URL}"
    headers: {Authorization: "Bearer ${BANK_API_TOKEN}", X-Stub-Fault: garbage}
  bank_slow:
    base_url: "${BANK_API_URL}"
    headers: {Authorization: "Bearer ${BANK_API_TOKEN}", X-Stub-Fault: slow, X-Stub-Delay: "2"}
  bank_hang:
    base_url: "${BANK_API_URL}"
    headers: {Authorization: "Bearer ${BANK_API_TOKEN}", X-Stub-Fault: hang}
    timeout: 0.3
  nowhere:
    base_url: "${DOWN_URL}"
"""

FLOW = """\
flow: t
languages: [zh-CN]
start: call
nodes:
  call:
    type: http
{node}
    next: done
    on_http_error: http_error
    on_timeout: timed_out
    on_failure: failed
    on_error: errored
  done: {{type: hangup}}
  http_error: {{type: hangup}}
  timed_out: {{type: hangup}}
  failed: {{type: hangup}}
  errored: {{type: hangup}}
"""
FIRST_NODE_LINE = 7  # where `{node}` starts in FLOW

VERIFY = """\
backend: bank
method: POST
path: /customers/verify
body: {card_number: card_number, id_last4: id_last4}
retries: 1
save: {customer_id: customer_id, customer_name: name, card_last4: card_last4}
"""


def http_flow(node: str) -> Flow:
    return parse_flow(FLOW.format(node=textwrap.indent(textwrap.dedent(node), "    ").rstrip("\n")), "flows/t.yaml")


def free_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def stub():
    running = await serve(create_app(token=TOKEN))
    yield running
    await running.close()


@pytest.fixture
async def client(stub):
    env = {"BANK_API_URL": stub.url, "BANK_API_TOKEN": TOKEN, "DOWN_URL": free_port_url()}
    backend_client = BackendClient(BackendConfig.parse(BACKENDS, "flows/backends/backends.yaml", env))
    yield backend_client
    await backend_client.close()


@dataclass
class Run:
    outcome: CallOutcome
    steps: list[StepRecord]
    call: CallContext
    seconds: float

    @property
    def path(self) -> list[str]:
        return [s.node for s in self.steps]

    @property
    def detail(self) -> dict:
        return self.steps[0].detail


async def run_call(flow: Flow, client, variables=None, secrets=()) -> Run:
    call_log = MemoryCallLog()
    call_id = await call_log.call_started(CallStart("SIP/1-0001", "1700000000.1", "13812345678", "4000",
                                                    flow.name, flow.version, "zh-CN", None))
    call = CallContext(ScriptedChannel(), "zh-CN", lambda pid, lang: pid, variables=dict(variables or {}),
                       services=Services(http=client), secret_variables=set(secrets))
    started = time.monotonic()
    outcome = await FlowRunner(flow, call, call_log, call_id).run()
    return Run(outcome, call_log.steps[call_id], call, time.monotonic() - started)


def budget(timeout: float, retries: int) -> float:
    """The longest a node may take: every attempt timing out, the back-offs, and slack for the loop."""
    return timeout * (retries + 1) + RETRY_BACKOFF_S * retries + 0.5


# --- answers ------------------------------------------------------------------


async def test_success_saves_variables_and_takes_next(client):
    run = await run_call(http_flow(VERIFY), client, {"card_number": LI_NA.card_number, "id_last4": "567X"})
    assert run.path == ["call", "done"]
    assert run.steps[0].result == "next"
    assert run.call.variables["customer_id"] == "C1002"
    assert run.call.variables["customer_name"] == "李娜"
    assert run.call.variables["card_last4"] == "6783"
    elapsed_ms = run.detail.pop("elapsed_ms")
    assert isinstance(elapsed_ms, int) and elapsed_ms >= 0
    assert run.detail == {"backend": "bank", "method": "POST", "path": "/customers/verify", "status": "ok",
                          "http_status": 200, "attempts": 1, "saved": ["card_last4", "customer_id", "customer_name"]}


async def test_path_placeholders_come_from_variables(client):
    flow = http_flow("""\
        backend: bank
        path: /accounts/{customer_id}/summary
        save: {due_date: due_date, minimum_due: minimum_due}
        """)
    run = await run_call(flow, client, {"customer_id": "C1002"})
    assert run.path == ["call", "done"]
    assert run.call.variables["minimum_due"] == 846.0
    assert run.detail["path"] == "/accounts/{customer_id}/summary"  # the template, not the caller's value


def test_path_values_are_url_quoted():
    assert fill_path("/accounts/{id}/summary", {"id": "../C1 2"}) == "/accounts/..%2FC1%202/summary"


async def test_wrong_token_is_http_error_without_retry(client):
    run = await run_call(http_flow(VERIFY.replace("backend: bank", "backend: bank_bad_token")), client,
                         {"card_number": LI_NA.card_number, "id_last4": "567X"})
    assert run.path == ["call", "http_error"]
    assert (run.detail["status"], run.detail["http_status"], run.detail["attempts"]) == ("http_error", 401, 1)
    assert "customer_id" not in run.call.variables


async def test_verification_refused_is_http_error(client):
    run = await run_call(http_flow(VERIFY), client, {"card_number": LI_NA.card_number, "id_last4": "0000"})
    assert run.path == ["call", "http_error"]
    assert run.detail["http_status"] == 401


async def test_server_error_is_retried_then_http_error(client):
    flow = http_flow(VERIFY.replace("backend: bank", "backend: bank_error").replace("retries: 1", "retries: 2"))
    run = await run_call(flow, client, {"card_number": LI_NA.card_number, "id_last4": "567X"})
    assert run.path == ["call", "http_error"]
    assert (run.detail["http_status"], run.detail["attempts"]) == (500, 3)
    assert run.seconds >= 2 * RETRY_BACKOFF_S - 0.05  # backed off between attempts


async def test_garbage_answer_is_failure_without_retry(client):
    run = await run_call(http_flow(VERIFY.replace("backend: bank", "backend: bank_garbage")), client,
                         {"card_number": LI_NA.card_number, "id_last4": "567X"})
    assert run.path == ["call", "failed"]
    assert (run.detail["status"], run.detail["http_status"], run.detail["attempts"]) == ("bad_response", 200, 1)
    assert run.detail["error"] == "HTTP 200 answer is not a JSON object"


async def test_answer_without_a_save_path_is_failure(client):
    flow = http_flow("""\
        backend: bank
        path: /accounts/{customer_id}/summary
        save: {due_date: due_date, amount: balance.amount}
        """)
    run = await run_call(flow, client, {"customer_id": "C1002"})
    assert run.path == ["call", "failed"]
    assert (run.detail["status"], run.detail["error"]) == ("bad_response", "answer has no 'balance.amount'")
    assert "due_date" not in run.call.variables  # all or nothing


# --- time limits --------------------------------------------------------------


async def test_slow_backend_times_out_within_budget(client):
    flow = http_flow("""\
        backend: bank_slow
        path: /accounts/{customer_id}/summary
        timeout: 0.3
        retries: 1
        """)
    run = await run_call(flow, client, {"customer_id": "C1002"})
    assert run.path == ["call", "timed_out"]
    assert (run.detail["status"], run.detail["attempts"]) == ("timeout", 2)
    assert run.detail["error"] == "no answer within 0.3 s"
    assert 0.3 * 2 + RETRY_BACKOFF_S - 0.05 <= run.seconds < budget(0.3, 1)  # waited, but no longer


async def test_hanging_backend_times_out_on_the_backends_default_timeout(client):
    flow = http_flow("""\
        backend: bank_hang
        path: /accounts/{customer_id}/summary
        retries: 1
        """)
    run = await run_call(flow, client, {"customer_id": "C1002"})
    assert run.path == ["call", "timed_out"]
    assert run.detail["attempts"] == 2
    assert run.seconds < budget(0.3, 1)  # bank_hang's `timeout: 0.3` applies


async def test_refused_connection_is_failure_after_retries(client):
    flow = http_flow("""\
        backend: nowhere
        path: /health
        timeout: 1
        retries: 2
        """)
    run = await run_call(flow, client)
    assert run.path == ["call", "failed"]
    assert (run.detail["status"], run.detail["http_status"], run.detail["attempts"]) == ("unreachable", None, 3)
    assert run.detail["error"].startswith("connection failed")
    assert run.seconds < budget(1, 2)


# --- secrets and logs ---------------------------------------------------------


async def test_secret_values_stay_out_of_details_and_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {"card_number": LI_NA.card_number, "id_last4": "567X"}
    ok = await run_call(http_flow(VERIFY), client, secrets, secrets=secrets)
    failing = await run_call(http_flow(VERIFY.replace("backend: bank", "backend: bank_error")), client,
                             secrets, secrets=secrets)
    assert ok.path == ["call", "done"] and failing.path == ["call", "http_error"]
    assert "retrying" in caplog.text  # the failing call did log
    records = repr([ok.steps, failing.steps])
    for value in secrets.values():
        assert value not in records
        assert value not in caplog.text


async def test_secret_variable_may_not_go_in_a_path(client):
    flow = http_flow("backend: bank\npath: /cards/{card_number}\n")
    run = await run_call(flow, client, {"card_number": LI_NA.card_number}, secrets={"card_number"})
    assert run.path == ["call", "errored"]
    assert "may not be sent in a URL path" in run.steps[0].detail["error"]
    assert LI_NA.card_number not in repr(run.steps)


@pytest.mark.parametrize("node, variables, message", [
    ("backend: bank\npath: /accounts/{customer_id}/summary\n", {}, "needs variable 'customer_id'"),
    (VERIFY, {"card_number": "6222021000056783"}, "body needs variable 'id_last4'"),
    ("backend: unknown\npath: /health\n", {}, "unknown back-end 'unknown'"),
])
async def test_flow_mistakes_found_at_run_time_take_on_error(client, node, variables, message):
    run = await run_call(http_flow(node), client, variables)
    assert run.path == ["call", "errored"]
    assert message in run.steps[0].detail["error"]


async def test_without_a_client_the_node_fails_clearly():
    run = await run_call(http_flow(VERIFY), None, {"card_number": "6222021000056783", "id_last4": "567X"})
    assert run.path == ["call", "errored"]
    assert run.steps[0].detail["error"].startswith("RuntimeError: http node needs a back-end client")


async def test_client_shares_one_session_and_stays_closed(client):
    flow = http_flow("backend: bank\npath: /accounts/{customer_id}/summary\n")
    await run_call(flow, client, {"customer_id": "C1002"})
    session = client._session
    await run_call(flow, client, {"customer_id": "C1004"})
    assert client._session is session
    await client.close()
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.request("bank", "GET", "/health")


# --- the node's YAML ----------------------------------------------------------


def test_node_reads_every_key_and_declares_four_exits():
    node = http_flow(VERIFY.replace("retries: 1", "retries: 1\ntimeout: 2.5")).node("call")
    assert isinstance(node, HttpNode)
    assert (node.backend, node.method, node.path, node.timeout, node.retries) == \
           ("bank", "POST", "/customers/verify", 2.5, 1)
    assert node.body == {"card_number": "card_number", "id_last4": "id_last4"}
    assert node.exits == {"error": "errored", "next": "done", "http_error": "http_error",
                          "timeout": "timed_out", "failure": "failed"}
    assert set(HttpNode.schema["properties"]) == {"backend", "method", "path", "body", "timeout", "retries",
                                                  "save", "next", "on_http_error", "on_timeout", "on_failure"}


def test_defaults():
    node = http_flow("backend: bank\npath: /health\n").node("call")
    assert (node.method, node.timeout, node.retries, node.body, node.save) == ("GET", None, 0, {}, {})


@pytest.mark.parametrize("node, bad_line, message", [
    ("backend: bank\npath: /x\nmethod: PATCH\n", 3, "'method' must be one of GET, POST, PUT, DELETE"),
    ("backend: bank\npath: x\n", 2, "'path' must start with '/'"),
    ("backend: bank\npath: /a/{1x}\n", 2, "must name a variable"),
    ("backend: bank\npath: /a/{x\n", 2, "unbalanced"),
    ("backend: bank\npath: /x\ntimeout: 0.05\n", 3, "'timeout' must be between 0.1 and 30"),
    ("backend: bank\npath: /x\ntimeout: 31\n", 3, "'timeout' must be between 0.1 and 30"),
    ("backend: bank\npath: /x\nretries: 4\n", 3, "'retries' must be between 0 and 3"),
    ("backend: bank\npath: /x\nretries: 1.5\n", 3, "'retries' must be a whole number"),
    ("backend: bank\npath: /x\nsave:\n  a: x.y\n  b: 'x..y'\n", 5, "must map to a dotted path"),
    ("backend: bank\npath: /x\nsave:\n  9b: x\n", 4, "must be a variable name"),
    ("backend: bank\npath: /x\nsave: {}\n", 3, "must not be empty"),
    ("backend: bank\nmethod: POST\npath: /x\nbody:\n  card: card number\n", 5, "must map to a variable name"),
    ("backend: bank\npath: /x\nbody: {a: b}\n", 3, "a GET request has no body"),
    ("backend: bank-api\npath: /x\n", 1, "must be a back-end name"),
    ("bakend: bank\npath: /x\n", 1, "unknown key 'bakend' (did you mean 'backend'?)"),
    ("backend: bank\npath: /x\nheaders: {a: b}\n", 3, "unknown key 'headers'"),
])
def test_bad_node_names_file_line_and_node(node, bad_line, message):
    with pytest.raises(FlowError) as excinfo:
        http_flow(node)
    assert str(excinfo.value).startswith(f"flows/t.yaml:{FIRST_NODE_LINE + bad_line - 1}:")
    assert "node 'call'" in str(excinfo.value)
    assert message in str(excinfo.value)


def test_every_exit_is_required():
    text = FLOW.format(node="    backend: bank\n    path: /x").replace("    on_failure: failed\n", "")
    with pytest.raises(FlowError, match="missing required key 'on_failure'"):
        parse_flow(text, "flows/t.yaml")


def test_exit_targets_are_validated_by_the_loader():
    text = FLOW.format(node="    backend: bank\n    path: /x").replace("on_timeout: timed_out", "on_timeout: nowhere")
    with pytest.raises(FlowError, match="flows/t.yaml:11:.*exit 'timeout' leads to missing node 'nowhere'"):
        parse_flow(text, "flows/t.yaml")


# --- backends.yaml ------------------------------------------------------------


def test_shipped_backends_file_uses_defaults_when_env_is_unset():
    config = BackendConfig.load(SHIPPED_BACKENDS, "flows/backends/backends.yaml", env={})
    bank = config.get("bank")
    assert (bank.base_url, dict(bank.headers), bank.timeout_s) == \
           ("http://127.0.0.1:8090", {"Authorization": "Bearer demo-token"}, 3.0)


def test_shipped_backends_file_takes_env_values():
    env = {"BANK_API_URL": "https://bank.internal/api/v1/", "BANK_API_TOKEN": "prod-secret"}
    bank = BackendConfig.load(SHIPPED_BACKENDS, env=env).get("bank")
    assert bank.base_url == "https://bank.internal/api/v1"  # trailing slash dropped: paths start with one
    assert bank.headers["Authorization"] == "Bearer prod-secret"
    assert "prod-secret" not in repr(bank)


@pytest.mark.parametrize("value, env, expected", [
    ("${A}", {"A": "x"}, "x"),
    ("${A}", {"A": ""}, ""),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A:-}", {}, ""),
    ("${A:-http://h:1}/${B:-v1}", {"B": "v2"}, "http://h:1/v2"),
    ("a $B and ${A}", {"A": "x"}, "a $B and x"),
])
def test_interpolation(value, env, expected):
    text = f"backends:\n  b:\n    base_url: http://h\n    headers: {{X: '{value}'}}\n"
    assert BackendConfig.parse(text, "b.yaml", env).get("b").headers["X"] == expected


def test_unset_variable_names_file_line_and_variable():
    text = "backends:\n  bank:\n    base_url: http://h\n    headers:\n      Authorization: 'Bearer ${BANK_API_TOKEN}'\n"
    with pytest.raises(BackendConfigError) as excinfo:
        BackendConfig.parse(text, "flows/backends/backends.yaml", env={})
    assert str(excinfo.value).startswith("flows/backends/backends.yaml:5:")
    assert "BANK_API_TOKEN is not set" in str(excinfo.value)


@pytest.mark.parametrize("text, line, message", [
    ("backends:\n  b:\n    base_url: '${URL'\n", 3, "unclosed '${'"),
    ("backends:\n  b:\n    base_url: '${1URL}'\n", 3, "bad placeholder"),
    ("backends:\n  b:\n    base_url: ftp://h\n", 3, "must be an http(s) URL"),
    ("backends:\n  b:\n    base_url: http://\n", 3, "must be an http(s) URL"),
    ("backends:\n  b:\n    base_url: http://h\n    timeout: 0\n", 4, "'timeout' must be a number"),
    ("backends:\n  b:\n    base_url: http://h\n    headers: {X-Version: 2}\n", 4, "'X-Version' must be a string"),
    ("backends:\n  b:\n    base_url: http://h\n    retries: 2\n", 4, "unknown key 'retries'"),
    ("backends:\n  b:\n    headers: {}\n", 2, "needs a 'base_url'"),
    ("backends:\n  bank-api:\n    base_url: http://h\n", 2, "letters, digits and _"),
    ("backends: {}\n", 1, "non-empty mapping"),
    ("backend:\n  b: {}\n", 1, "must be a mapping with 'backends'"),
    ("backends:\n  b: [\n", 3, "YAML syntax error"),
])
def test_bad_backends_file_names_file_and_line(text, line, message):
    with pytest.raises(BackendConfigError) as excinfo:
        BackendConfig.parse(text, "b.yaml", env={})
    assert str(excinfo.value).startswith(f"b.yaml:{line}:")
    assert message in str(excinfo.value)
