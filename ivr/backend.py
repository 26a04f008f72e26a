"""Named back-ends for `http` nodes, and the one HTTP client the IVR process shares.

flows/backends/backends.yaml:

    backends:
      bank:
        base_url: "${BANK_API_URL:-http://127.0.0.1:8090}"
        headers:
          Authorization: "Bearer ${BANK_API_TOKEN:-demo-token}"
        timeout: 3        # seconds per attempt when a node sets none

`${VAR}` and `${VAR:-default}` in string values are filled from the
environment at load, so addresses and tokens never live in flow files. An
unset `${VAR}` without a default is an error naming file, line and variable.

A request never outlives its budget: every attempt runs under one deadline,
and only timeouts, unreachable back-ends and 5xx answers are retried, so a
hanging back-end costs a caller at most timeout * (retries + 1) plus the
back-offs.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import aiohttp

from common.masking import mask_numbers
from ivr.located_yaml import LocatedMap, Location, YamlSourceError, load_located, load_located_file

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 3.0
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.1, 30.0
RETRY_BACKOFF_S = 0.2
MAX_BODY_BYTES = 1_000_000  # a JSON answer for one caller is far smaller; more is a broken back-end

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_ENV_REFERENCE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_PATH_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class BackendConfigError(ValueError):
    """A back-ends file that cannot be used, with the place that makes it so."""

    def __init__(self, location: Location, message: str):
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


@dataclass(frozen=True)
class Backend:
    name: str
    base_url: str  # without a trailing slash; node paths start with one
    # Kept out of repr: headers carry tokens, and a config object may end up in a log.
    headers: Mapping[str, str] = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class BackendConfig:
    source: str
    backends: Mapping[str, Backend]

    @classmethod
    def load(cls, path: Path, display_name: str | None = None,
             env: Mapping[str, str] | None = None) -> "BackendConfig":
        name = display_name or str(path)
        try:
            doc = load_located_file(path, name)
        except YamlSourceError as exc:
            raise BackendConfigError(exc.location, exc.message) from None
        return cls._from_doc(doc, name, os.environ if env is None else env)

    @classmethod
    def parse(cls, text: str, file: str, env: Mapping[str, str] | None = None) -> "BackendConfig":
        try:
            doc = load_located(text, file)
        except YamlSourceError as exc:
            raise BackendConfigError(exc.location, exc.message) from None
        return cls._from_doc(doc, file, os.environ if env is None else env)

    def get(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise LookupError(f"unknown back-end {name!r} (known in {self.source}: {known})") from None

    @classmethod
    def _from_doc(cls, doc: Any, file: str, env: Mapping[str, str]) -> "BackendConfig":
        if not isinstance(doc, LocatedMap) or "backends" not in doc:
            raise BackendConfigError(Location(file, 1, 1), "a back-ends file must be a mapping with 'backends'")
        for key in doc:
            if key != "backends":
                raise BackendConfigError(doc.where(key), f"unknown top-level key {key!r} (expected 'backends')")
        raw = doc["backends"]
        if not isinstance(raw, LocatedMap) or not raw:
            raise BackendConfigError(doc.where("backends"),
                                     "'backends' must be a non-empty mapping of name to back-end")
        backends = {name: _backend(name, spec, raw.where(name), env) for name, spec in raw.items()}
        return cls(file, backends)


def _backend(name: str, spec: Any, where: Location, env: Mapping[str, str]) -> Backend:
    if not _NAME.fullmatch(name):
        raise BackendConfigError(where, f"back-end name {name!r} must be letters, digits and _")
    if not isinstance(spec, LocatedMap):
        raise BackendConfigError(where, f"back-end {name!r} must be a mapping with 'base_url'")
    for key in spec:
        if key not in ("base_url", "headers", "timeout"):
            raise BackendConfigError(spec.where(key), f"unknown key {key!r} for back-end {name!r}")
    if "base_url" not in spec:
        raise BackendConfigError(where, f"back-end {name!r} needs a 'base_url'")
    base_url = _string(spec, "base_url", env)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        # The value is not quoted back: it may hold credentials from the environment.
        raise BackendConfigError(spec.where("base_url"), "'base_url' must be an http(s) URL such as "
                                                         "http://127.0.0.1:8090 (no query or fragment)")
    headers = spec.get("headers", LocatedMap())
    if not isinstance(headers, LocatedMap):
        raise BackendConfigError(spec.where("headers"), "'headers' must be a mapping of header name to value")
    timeout = spec.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:
        raise BackendConfigError(spec.where("timeout"),
                                 f"'timeout' must be a number of seconds from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}")
    return Backend(name, base_url.rstrip("/"), {h: _string(headers, h, env) for h in headers}, float(timeout))


def _string(mapping: LocatedMap, key: str, env: Mapping[str, str]) -> str:
    value = mapping[key]
    if not isinstance(value, str):
        raise BackendConfigError(mapping.where(key), f"{key!r} must be a string")
    return interpolate_env(value, env, mapping.where(key))


def interpolate_env(value: str, env: Mapping[str, str], where: Location) -> str:
    """Fill `${VAR}` and `${VAR:-default}` (default also when VAR is empty, as in a shell)."""
    if "${" in _ENV_PLACEHOLDER.sub("", value):
        raise BackendConfigError(where, "unclosed '${': write ${VAR} or ${VAR:-default}")

    def fill(match: re.Match[str]) -> str:
        reference = _ENV_REFERENCE.match(match.group(1))
        if reference is None:
            raise BackendConfigError(where, f"bad placeholder {match.group(0)!r}: write ${{VAR}} or ${{VAR:-default}}")
        name, default = reference.groups()
        found = env.get(name)
        if default is not None and not found:
            return default
        if found is None:
            raise BackendConfigError(where, f"environment variable {name} is not set "
                                            f"(and {match.group(0)} has no ':-default')")
        return found

    return _ENV_PLACEHOLDER.sub(fill, value)


# --- path templates -----------------------------------------------------------


def path_variables(template: str) -> tuple[str, ...]:
    """Variable names in a path template such as /accounts/{customer_id}/summary."""
    names = _PATH_PLACEHOLDER.findall(template)
    leftover = _PATH_PLACEHOLDER.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise ValueError("unbalanced '{' or '}' in path")
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(f"path placeholder {{{name}}} must name a variable (letters, digits and _)")
    return tuple(names)


def fill_path(template: str, variables: Mapping[str, Any]) -> str:
    """Fill placeholders from call variables, URL-quoted so a value cannot change the path."""
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ValueError(f"path {template!r} needs variable {name!r}, which is not set")
        return quote(str(variables[name]), safe="")

    return _PATH_PLACEHOLDER.sub(fill, template)


# --- the client ---------------------------------------------------------------


@dataclass(frozen=True)
class BackendResult:
    status: str  # ok | http_error | timeout | bad_response | unreachable
    http_status: int | None
    data: dict[str, Any] | None  # the JSON object answered (also for error answers), if any
    attempts: int
    elapsed_ms: int
    error: str | None = None  # why it failed, in words free of caller data

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class _Attempt:
    status: str
    http_status: int | None = None
    data: dict[str, Any] | None = None
    error: str | None = None

    @property
    def retryable(self) -> bool:
        # A 4xx or a garbled 2xx will be the same next time; these may not.
        return self.status in ("timeout", "unreachable") or (self.http_status or 0) >= 500


class BackendClient:
    """One connection pool for every call in the process (create once, `close()` on shutdown)."""

    def __init__(self, config: BackendConfig, backoff_s: float = RETRY_BACKOFF_S):
        self.config = config
        self.backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("BackendClient is closed")
        if self._session is None:  # created lazily: a session must be made inside the running loop
            # No session-wide timeout: each attempt runs under its own deadline (see _attempt).
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def request(self, backend: str, method: str, path: str, json_body: dict[str, Any] | None = None,
                      timeout_s: float | None = None, retries: int = 0) -> BackendResult:
        """Send `method path` (already filled) to a named back-end, retrying what may pass."""
        target = self.config.get(backend)
        timeout_s = target.timeout_s if timeout_s is None else timeout_s
        session = self._get_session()
        where = f"{backend} {method} {mask_numbers(path)}"
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            result = await self._attempt(session, target, method, path, json_body, timeout_s)
            if not result.retryable or attempts > retries:
                break
            log.warning("back-end %s: %s (attempt %d of %d), retrying", where, result.error, attempts, retries + 1)
            await asyncio.sleep(self.backoff_s)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if result.status == "ok":
            log.debug("back-end %s: HTTP %s in %d ms", where, result.http_status, elapsed_ms)
        else:
            log.warning("back-end %s failed: %s after %d attempt(s), %d ms", where, result.error, attempts, elapsed_ms)
        return BackendResult(result.status, result.http_status, result.data, attempts, elapsed_ms, result.error)

    @staticmethod
    async def _attempt(session: aiohttp.ClientSession, target: Backend, method: str, path: str,
                       json_body: dict[str, Any] | None, timeout_s: float) -> _Attempt:
        # String join, not urljoin: urljoin would drop a base path such as /api/v1.
        url = target.base_url + path
        headers = {"Accept": "application/json", **target.headers}
        try:
            # One deadline over connect, send, headers and body: aiohttp's per-phase
            # timeouts leave gaps (a back-end trickling its body), this does not.
            async with asyncio.timeout(timeout_s):
                async with session.request(method, url, json=json_body, headers=headers) as response:
                    body = await _read_capped(response)
        except TimeoutError:
            return _Attempt("timeout", error=f"no answer within {timeout_s:g} s")
        except aiohttp.ClientConnectionError as exc:
            return _Attempt("unreachable", error=f"connection failed ({type(exc).__name__})")
        except aiohttp.ClientError as exc:
            return _Attempt("bad_response", error=f"broken HTTP answer ({type(exc).__name__})")
        return _classify(response.status, body)


async def _read_capped(response: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None when it is larger than any sane answer."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _classify(http_status: int, body: bytes | None) -> _Attempt:
    if body is None:
        return _Attempt("bad_response", http_status, error=f"answer larger than {MAX_BODY_BYTES} bytes")
    data = _json_object(body)
    if not 200 <= http_status < 300:
        return _Attempt("http_error", http_status, data, error=f"HTTP {http_status}")
    if data is None:
        return _Attempt("bad_response", http_status, error=f"HTTP {http_status} answer is not a JSON object")
    return _Attempt("ok", http_status, data)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None
    return data if isinstance(data, dict) else None
