"""`http`: call a named back-end (flows/backends/backends.yaml) and branch on the answer.

    verify:
      type: http
      backend: bank                 # a name from flows/backends/backends.yaml
      method: POST                  # GET (default), POST, PUT or DELETE
      path: /customers/verify       # {var} placeholders are filled from variables, URL-quoted
      body: {card_number: card_number, id_last4: id_last4}   # JSON field -> variable name
      timeout: 3                    # seconds per attempt, 0.1-30 (default: the back-end's)
      retries: 1                    # 0-3 (default 0), only after a timeout, no connection or a 5xx
      save: {customer_id: customer_id, customer_name: name}  # variable -> dotted path in the answer
      next: verified                # 2xx with a JSON object (and every `save` path found)
      on_http_error: not_verified   # any other HTTP status, once retries are used up
      on_timeout: backend_down      # no answer in time, on every attempt
      on_failure: backend_down      # no connection, or an answer that is not JSON / lacks a `save` path

Exits: `next`, `http_error`, `timeout`, `failure`; all four are required so
every way a back-end can let a caller down is designed for. A variable the
flow needs but that is not set (in `path` or `body`) is a node error, so
`on_error` applies. Retries re-send the request: keep them for requests the
back-end can safely see twice.

Step details name the method, path template, outcome, HTTP status, attempts,
time and saved variable names, never a value, so card numbers and PINs sent
in `body` stay out of step records and logs. Secret variables may not be
used in `path` at all: URLs end up in access logs on both sides.
"""
from __future__ import annotations

import re
from typing import Any

from ivr.backend import MAX_TIMEOUT_S, MIN_TIMEOUT_S, fill_path, path_variables
from ivr.call import CallContext
from ivr.located_yaml import LocatedMap
from ivr.nodes import register
from ivr.nodes.base import FlowError, Node, NodeSpec, StepResult

METHODS = ("GET", "POST", "PUT", "DELETE")
MAX_RETRIES = 3
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME = re.compile(rf"^{_IDENTIFIER}$")
_DOTTED = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*$")

# Client outcome -> exit taken.
_EXITS = {"ok": "next", "http_error": "http_error", "timeout": "timeout",
          "unreachable": "failure", "bad_response": "failure"}


@register
class HttpNode(Node):
    type_name = "http"
    schema = {
        "properties": {
            "backend": {"type": "string", "pattern": f"^{_IDENTIFIER}$",
                        "description": "back-end name from flows/backends/backends.yaml"},
            "method": {"enum": list(METHODS), "default": "GET"},
            "path": {"type": "string", "pattern": "^/", "description": "{var} placeholders are filled from variables"},
            "body": {"type": "object", "additionalProperties": {"type": "string", "pattern": f"^{_IDENTIFIER}$"},
                     "description": "JSON field -> variable name (not with GET)"},
            "timeout": {"type": "number", "minimum": MIN_TIMEOUT_S, "maximum": MAX_TIMEOUT_S,
                        "description": "seconds per attempt (default: the back-end's)"},
            "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES, "default": 0},
            "save": {"type": "object", "propertyNames": {"pattern": f"^{_IDENTIFIER}$"},
                     "additionalProperties": {"type": "string", "pattern": _DOTTED.pattern},
                     "description": "variable -> dotted path in the JSON answer"},
            "next": {"type": "string", "description": "node after a 2xx JSON answer"},
            "on_http_error": {"type": "string", "description": "node after any other HTTP status"},
            "on_timeout": {"type": "string", "description": "node when no attempt was answered in time"},
            "on_failure": {"type": "string", "description": "node when unreachable or the answer is unusable"},
        },
        "required": ["backend", "path", "next", "on_http_error", "on_timeout", "on_failure"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], backend: str, method: str, path: str,
                 body: dict[str, str], timeout: float | None, retries: int, save: dict[str, str]):
        super().__init__(node_id, exits)
        self.backend = backend
        self.method = method
        self.path = path
        self.path_variables = path_variables(path)
        self.body = body
        self.timeout = timeout
        self.retries = retries
        self.save = save

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "HttpNode":
        # Whether `backend` exists is checked when the node runs: back-ends are
        # configured per deployment, separately from flows.
        backend = spec.text("backend")
        if not _NAME.fullmatch(backend):
            raise spec.error(f"'backend' {backend!r} must be a back-end name (letters, digits and _)", "backend")
        method = spec.text("method", "GET")
        if method not in METHODS:
            raise spec.error(f"'method' must be one of {', '.join(METHODS)}, not {method!r}", "method")
        path = spec.text("path")
        if not path.startswith("/"):
            raise spec.error("'path' must start with '/' (the back-end's base_url comes from backends.yaml)", "path")
        try:
            path_variables(path)
        except ValueError as exc:
            raise spec.error(f"'path': {exc}", "path") from None
        body = _names(spec, "body", value_pattern=_NAME, value_kind="a variable name")
        if body and method == "GET":
            raise spec.error("a GET request has no body; use path placeholders or another method", "body")
        timeout = spec.number("timeout", None, minimum=MIN_TIMEOUT_S, maximum=MAX_TIMEOUT_S)
        retries = spec.number("retries", 0, minimum=0, maximum=MAX_RETRIES)
        if not isinstance(retries, int):
            raise spec.error("'retries' must be a whole number", "retries")
        save = _names(spec, "save", value_pattern=_DOTTED, value_kind="a dotted path such as 'account.balance'",
                      key_pattern=_NAME)
        spec.target("next")
        spec.target("on_http_error", exit_name="http_error")
        spec.target("on_timeout", exit_name="timeout")
        spec.target("on_failure", exit_name="failure")
        return cls(spec.node_id, spec.exits, backend, method, path, body,
                   None if timeout is None else float(timeout), retries, save)

    def reads(self) -> frozenset[str]:
        return frozenset(self.path_variables) | frozenset(self.body.values())

    def writes(self) -> frozenset[str]:
        return frozenset(self.save)

    async def run(self, call: CallContext) -> StepResult:
        client = call.services.http
        if client is None:
            raise RuntimeError("http node needs a back-end client: start the IVR with "
                               "Services(http=BackendClient(...))")
        secret_in_path = [v for v in self.path_variables if v in call.secret_variables]
        if secret_in_path:
            raise ValueError(f"secret variable {secret_in_path[0]!r} may not be sent in a URL path; "
                             "send it in 'body'")
        path = fill_path(self.path, call.variables)
        body = self._body(call.variables) if self.body else None
        result = await client.request(self.backend, self.method, path, body, self.timeout, self.retries)
        detail: dict[str, Any] = {"backend": self.backend, "method": self.method, "path": self.path,
                                  "status": result.status, "http_status": result.http_status,
                                  "attempts": result.attempts, "elapsed_ms": result.elapsed_ms}
        if not result.ok:
            detail["error"] = result.error
            return StepResult(_EXITS[result.status], detail=detail)
        try:
            saved = {variable: _dig(result.data, dotted) for variable, dotted in self.save.items()}
        except LookupError as exc:  # the answer lacks a value the flow relies on
            detail.update(status="bad_response", error=str(exc))
            return StepResult("failure", detail=detail)
        call.variables.update(saved)
        detail["saved"] = sorted(saved)
        return StepResult("next", detail=detail)

    def _body(self, variables: dict[str, Any]) -> dict[str, Any]:
        missing = [v for v in self.body.values() if v not in variables]
        if missing:
            raise ValueError(f"body needs variable {missing[0]!r}, which is not set")
        return {field: variables[variable] for field, variable in self.body.items()}


def _dig(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise LookupError(f"answer has no {dotted!r}")
        value = value[part]
    return value


def _names(spec: NodeSpec, key: str, value_pattern: re.Pattern[str], value_kind: str,
           key_pattern: re.Pattern[str] | None = None) -> dict[str, str]:
    """A mapping of names to names (`body`, `save`), checked entry by entry."""
    mapping: LocatedMap | None = spec.mapping(key, None)
    if mapping is None:
        return {}
    if not mapping:
        raise spec.error(f"{key!r} must not be empty (leave it out instead)", key)
    for name, value in mapping.items():
        if key_pattern is not None and not key_pattern.fullmatch(name):
            raise FlowError(mapping.where(name), f"{key!r}: {name!r} must be a variable name (letters, digits and _)",
                            spec.node_id)
        if not isinstance(value, str) or not value_pattern.fullmatch(value):
            raise FlowError(mapping.where(name), f"{key!r}: {name!r} must map to {value_kind}, not {value!r}",
                            spec.node_id)
    return dict(mapping)
