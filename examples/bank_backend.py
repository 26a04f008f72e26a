"""A stand-in for the bank's card and account systems: the JSON API `http` nodes call.

Fixed demo customers live in memory (each app gets fresh copies). Every
endpoint but `GET /health` needs `Authorization: Bearer <token>`, the token
coming from env `BANK_API_TOKEN` (default `demo-token`).

    POST /customers/verify          {card_number, id_last4}  -> customer, or 401 verification_failed
    POST /customers/verify-id       {customer_id, id_last4}  -> customer, or 401 (outbound calls know the customer)
    POST /cards/activate            {customer_id}            -> {activated, card_status, card_last4}
    POST /cards/report-lost         {customer_id}            -> {case_id, new_card_eta, new_card_eta_days}
    GET  /accounts/{id}/summary                              -> {balance, statement_amount, minimum_due, due_date}
    GET  /installments/{id}/offer                            -> {eligible, amount, terms, monthly_fee_rate}
    POST /installments/accept       {customer_id, term}      -> {plan_id, term, monthly_payment, ...}
    POST /collections/promises      {customer_id, amount, days} -> {promise_id, promise_date, amount}

Errors are JSON: {"error": code, "message": text}. Fault modes show what
the IVR does when the back-end misbehaves; per request with header
`X-Stub-Fault`, or for every request with `app[STATE].fault` (or
`create_app(fault=...)`):

    slow     wait `X-Stub-Delay` seconds (default 5), then answer normally
    garbage  200 with a body that is not JSON
    error    500
    hang     never answer, until the client gives up or the stub stops

Run: python -m examples.bank_backend --host 127.0.0.1 --port 8090
"""
from __future__ import annotations

import argparse
import asyncio
import calendar
import hmac
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Callable

from aiohttp import web

from common.masking import mask_digits

log = logging.getLogger(__name__)

FAULTS = ("slow", "garbage", "error", "hang")
DEFAULT_SLOW_S = 5.0
INSTALLMENT_TERMS = (3, 6, 12)
MONTHLY_FEE_RATE = 0.006  # of the converted amount, per month
NEW_CARD_DAYS = 7
PROMISE_MAX_DAYS = 14  # a promise to pay further out is a payment plan, not a promise


@dataclass
class Customer:
    customer_id: str
    name: str  # Chinese name, as the bank's records hold it
    name_en: str
    id_last4: str  # last 4 characters of the Chinese resident ID (the last may be X)
    card_number: str
    card_status: str  # inactive | active | lost
    balance: float
    statement_amount: float
    minimum_due: float
    due_day: int  # day of the month the statement is due
    installment_eligible: bool
    lost_case_id: str | None = None


DEMO_CUSTOMERS = (
    Customer("C1001", "张伟", "Zhang Wei", "1234", "6222021000012349", "inactive",
             0.0, 0.0, 0.0, 25, False),
    Customer("C1002", "李娜", "Li Na", "567X", "6222021000056783", "active",
             12680.50, 8460.00, 846.00, 25, True),
    Customer("C1003", "王芳", "Wang Fang", "0021", "6228480000020211", "lost",
             3200.00, 1500.00, 150.00, 10, False, lost_case_id="L0001"),
    Customer("C1004", "陈杰", "Chen Jie", "8808", "6258070000088087", "active",
             560.75, 560.75, 100.00, 5, False),
)


@dataclass
class StubState:
    customers: dict[str, Customer]
    token: str
    fault: str | None = None
    today: Callable[[], date] = date.today
    # Set when the app shuts down, so slow and hanging requests let the server stop at once.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    cases: int = 1  # L0001 belongs to the demo customer whose card is already lost
    plans: int = 0
    promises: list[dict[str, Any]] = field(default_factory=list)


# An AppKey rather than app["fault"]: aiohttp warns on string keys, and a mutable
# state object can switch faults on a running app without "frozen app" warnings.
STATE = web.AppKey("state", StubState)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def create_app(fault: str | None = None, token: str | None = None) -> web.Application:
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
    state = StubState(customers={c.customer_id: replace(c) for c in DEMO_CUSTOMERS},
                      token=token or os.environ.get("BANK_API_TOKEN") or "demo-token", fault=fault)
    app = web.Application(middlewares=[_gate])
    app[STATE] = state
    app.on_shutdown.append(_release_waiting)
    app.router.add_get("/health", _health)
    app.router.add_post("/customers/verify", _verify)
    app.router.add_post("/customers/verify-id", _verify_id)
    app.router.add_post("/cards/activate", _activate)
    app.router.add_post("/cards/report-lost", _report_lost)
    app.router.add_get("/accounts/{customer_id}/summary", _summary)
    app.router.add_get("/installments/{customer_id}/offer", _offer)
    app.router.add_post("/installments/accept", _accept)
    app.router.add_post("/collections/promises", _promise)
    return app


async def _release_waiting(app: web.Application) -> None:
    app[STATE].stopping.set()


# --- auth, faults and errors, for every endpoint ------------------------------


@web.middleware
async def _gate(request: web.Request, handler) -> web.StreamResponse:
    try:
        if request.path != "/health":
            _check_token(request)
            faulty = await _fault(request)
            if faulty is not None:
                return faulty
        return await handler(request)
    except ApiError as exc:
        return web.json_response({"error": exc.code, "message": exc.message}, status=exc.status)


def _check_token(request: web.Request) -> None:
    expected = f"Bearer {request.app[STATE].token}"
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong bearer token")


async def _fault(request: web.Request) -> web.StreamResponse | None:
    """Misbehave as asked; None means answer normally (possibly late)."""
    state = request.app[STATE]
    fault = request.headers.get("X-Stub-Fault") or state.fault
    if fault is None:
        return None
    if fault == "slow":
        try:
            delay = float(request.headers.get("X-Stub-Delay", DEFAULT_SLOW_S))
        except ValueError:
            raise ApiError(400, "bad_request", "X-Stub-Delay must be a number of seconds") from None
        await _wait_unless_stopping(state, delay)
        return None
    if fault == "garbage":
        return web.Response(status=200, text="<html>upstream proxy error</html>", content_type="text/html")
    if fault == "error":
        raise ApiError(500, "internal_error", "simulated back-end failure")
    if fault == "hang":
        await state.stopping.wait()
        raise ApiError(503, "stopping", "stub is shutting down")
    raise ApiError(400, "bad_request", f"unknown X-Stub-Fault {fault!r} (known: {', '.join(FAULTS)})")


async def _wait_unless_stopping(state: StubState, seconds: float) -> None:
    try:
        await asyncio.wait_for(state.stopping.wait(), seconds)
    except TimeoutError:
        pass


# --- endpoints ----------------------------------------------------------------


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _verify(request: web.Request) -> web.Response:
    body = await _json_body(request)
    card_number = _text(body, "card_number").replace(" ", "").replace("-", "")
    id_last4 = _text(body, "id_last4").upper()
    customer = next((c for c in request.app[STATE].customers.values() if c.card_number == card_number), None)
    if customer is None or not hmac.compare_digest(customer.id_last4.encode(), id_last4.encode()):
        log.info("verification failed for card %s", mask_digits(card_number))
        raise ApiError(401, "verification_failed", "card number and ID do not match")
    log.info("verified customer %s with card %s", customer.customer_id, mask_digits(card_number))
    return web.json_response({
        "verified": True,
        "customer_id": customer.customer_id,
        "name": customer.name,
        "name_en": customer.name_en,
        "card_status": customer.card_status,
        "card_last4": customer.card_number[-4:],
    })


async def _verify_id(request: web.Request) -> web.Response:
    body = await _json_body(request)
    customer = request.app[STATE].customers.get(_text(body, "customer_id"))
    id_last4 = _text(body, "id_last4").upper()
    if customer is None or not hmac.compare_digest(customer.id_last4.encode(), id_last4.encode()):
        raise ApiError(401, "verification_failed", "customer and ID do not match")
    return web.json_response({"verified": True, "customer_id": customer.customer_id, "name": customer.name,
                              "card_status": customer.card_status, "card_last4": customer.card_number[-4:]})


async def _promise(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    customer = _customer(request, _text(body, "customer_id"))
    days, amount = body.get("days"), body.get("amount")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= PROMISE_MAX_DAYS:
        raise ApiError(400, "bad_days", f"days must be a whole number from 1 to {PROMISE_MAX_DAYS}")
    try:
        amount = round(float(amount), 2)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_amount", "amount must be a number") from None
    if not 0 < amount <= 10_000_000:
        raise ApiError(400, "bad_amount", "amount must be positive")
    promise = {"promise_id": f"PTP{len(state.promises) + 1:04d}", "customer_id": customer.customer_id,
               "amount": amount, "promise_date": (state.today() + timedelta(days=days)).isoformat()}
    state.promises.append(promise)
    log.info("customer %s: promise to pay %s", customer.customer_id, promise["promise_id"])
    return web.json_response(promise)


async def _activate(request: web.Request) -> web.Response:
    customer = _customer(request, _text(await _json_body(request), "customer_id"))
    if customer.card_status == "lost":
        raise ApiError(409, "card_lost", "a card reported lost cannot be activated")
    activated = customer.card_status == "inactive"
    customer.card_status = "active"
    log.info("customer %s: card %s %s", customer.customer_id, mask_digits(customer.card_number),
             "activated" if activated else "was already active")
    return web.json_response({"activated": activated, "card_status": "active",
                              "card_last4": customer.card_number[-4:]})


async def _report_lost(request: web.Request) -> web.Response:
    state = request.app[STATE]
    customer = _customer(request, _text(await _json_body(request), "customer_id"))
    if customer.lost_case_id is None:  # reporting twice returns the first case
        state.cases += 1
        customer.lost_case_id = f"L{state.cases:04d}"
        customer.card_status = "lost"
        log.info("customer %s: card %s reported lost, case %s", customer.customer_id,
                 mask_digits(customer.card_number), customer.lost_case_id)
    eta = state.today() + timedelta(days=NEW_CARD_DAYS)
    return web.json_response({"case_id": customer.lost_case_id, "card_status": "lost",
                              "new_card_eta": eta.isoformat(), "new_card_eta_days": NEW_CARD_DAYS})


async def _summary(request: web.Request) -> web.Response:
    customer = _customer(request, request.match_info["customer_id"])
    due = _next_due_date(request.app[STATE].today(), customer.due_day)
    return web.json_response({
        "customer_id": customer.customer_id,
        "currency": "CNY",
        "balance": customer.balance,
        "statement_amount": customer.statement_amount,
        "minimum_due": customer.minimum_due,
        "due_date": due.isoformat(),
    })


async def _offer(request: web.Request) -> web.Response:
    customer = _customer(request, request.match_info["customer_id"])
    eligible = customer.installment_eligible
    return web.json_response({
        "eligible": eligible,
        "amount": customer.statement_amount if eligible else 0.0,
        "terms": list(INSTALLMENT_TERMS) if eligible else [],
        "monthly_fee_rate": MONTHLY_FEE_RATE,
    })


async def _accept(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _json_body(request)
    customer = _customer(request, _text(body, "customer_id"))
    term = body.get("term")
    if isinstance(term, bool) or term not in INSTALLMENT_TERMS:
        raise ApiError(400, "bad_term", f"term must be one of {list(INSTALLMENT_TERMS)}")
    if not customer.installment_eligible:
        raise ApiError(409, "not_eligible", "no installment offer for this statement")
    customer.installment_eligible = False  # one plan per statement
    state.plans += 1
    amount = customer.statement_amount
    monthly_fee = round(amount * MONTHLY_FEE_RATE, 2)
    log.info("customer %s: %d-month installment plan accepted", customer.customer_id, term)
    return web.json_response({
        "plan_id": f"P{state.plans:04d}",
        "term": term,
        "amount": amount,
        "monthly_fee": monthly_fee,
        "monthly_payment": round(amount / term + monthly_fee, 2),
    })


# --- helpers ------------------------------------------------------------------


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "bad_request", "body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "bad_request", f"{key!r} is required and must be a string")
    return value


def _customer(request: web.Request, customer_id: str) -> Customer:
    customer = request.app[STATE].customers.get(customer_id)
    if customer is None:
        raise ApiError(404, "unknown_customer", f"no customer {customer_id!r}")
    return customer


def _next_due_date(today: date, due_day: int) -> date:
    if today.day <= due_day:
        return today.replace(day=due_day)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, min(due_day, calendar.monthrange(year, month)[1]))


# --- running it ---------------------------------------------------------------


@dataclass
class RunningStub:
    app: web.Application
    runner: web.AppRunner
    url: str  # e.g. http://127.0.0.1:41234

    async def close(self) -> None:
        await self.runner.cleanup()


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> RunningStub:
    """Start `app` in this event loop (port 0: any free port) for tests and the demo."""
    # Handler cancellation: a client that gives up on a hanging request frees its handler.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return RunningStub(app, runner, f"http://{bound_host}:{bound_port}")


def main(argv: list[str] | None = None) -> None:
    from common.logs import setup_logging

    parser = argparse.ArgumentParser(description="Bank back-end stub for the IVR demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--fault", choices=FAULTS, help="misbehave on every request")
    args = parser.parse_args(argv)
    setup_logging()  # masks card and phone numbers on every log record
    web.run_app(create_app(args.fault), host=args.host, port=args.port, handler_cancellation=True)


if __name__ == "__main__":
    main()
