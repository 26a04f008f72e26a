"""The bank back-end stub over real HTTP: endpoints, auth, fault modes, masked logs."""
import asyncio
import logging
import time
from datetime import date

import aiohttp
import pytest

from examples.bank_backend import DEMO_CUSTOMERS, STATE, create_app, serve

AUTH = {"Authorization": "Bearer demo-token"}
LI_NA = next(c for c in DEMO_CUSTOMERS if c.customer_id == "C1002")


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch) * (2 if i % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@pytest.fixture
async def stub(monkeypatch):
    monkeypatch.delenv("BANK_API_TOKEN", raising=False)
    running = await serve(create_app())
    yield running
    await running.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, stub, method, path, json=None, headers=AUTH):
    async with http.request(method, stub.url + path, json=json, headers=headers) as response:
        return response.status, await response.json()


# --- the demo data ------------------------------------------------------------


def test_demo_customers_are_varied_and_valid():
    assert len(DEMO_CUSTOMERS) >= 4
    assert all(luhn_valid(c.card_number) and len(c.card_number) == 16 for c in DEMO_CUSTOMERS)
    assert {c.card_status for c in DEMO_CUSTOMERS} == {"inactive", "active", "lost"}
    assert {c.installment_eligible for c in DEMO_CUSTOMERS} == {True, False}
    assert all(len(c.id_last4) == 4 and c.name and c.name_en for c in DEMO_CUSTOMERS)


# --- endpoints ----------------------------------------------------------------


async def test_verify_matches_card_and_id(stub, http):
    status, body = await call(http, stub, "POST", "/customers/verify",
                              {"card_number": "6222 0210 0005 6783", "id_last4": "567x"})
    assert status == 200
    assert body == {"verified": True, "customer_id": "C1002", "name": "李娜", "name_en": "Li Na",
                    "card_status": "active", "card_last4": "6783"}


@pytest.mark.parametrize("card, id_last4", [("6222021000056783", "1234"), ("4111111111111111", "567X")])
async def test_verify_mismatch_is_401(stub, http, card, id_last4):
    status, body = await call(http, stub, "POST", "/customers/verify", {"card_number": card, "id_last4": id_last4})
    assert status == 401
    assert body["error"] == "verification_failed"


async def test_verify_needs_both_fields(stub, http):
    status, body = await call(http, stub, "POST", "/customers/verify", {"card_number": "6222021000056783"})
    assert (status, body["error"]) == (400, "bad_request")


async def test_activate_inactive_card_once(stub, http):
    status, body = await call(http, stub, "POST", "/cards/activate", {"customer_id": "C1001"})
    assert (status, body) == (200, {"activated": True, "card_status": "active", "card_last4": "2349"})
    _, again = await call(http, stub, "POST", "/cards/activate", {"customer_id": "C1001"})
    assert again["activated"] is False


async def test_lost_card_cannot_be_activated(stub, http):
    status, body = await call(http, stub, "POST", "/cards/activate", {"customer_id": "C1003"})
    assert (status, body["error"]) == (409, "card_lost")


async def test_report_lost_opens_one_case(stub, http):
    stub.app[STATE].today = lambda: date(2024, 5, 1)
    status, body = await call(http, stub, "POST", "/cards/report-lost", {"customer_id": "C1002"})
    assert status == 200
    assert body == {"case_id": "L0002", "card_status": "lost", "new_card_eta": "2024-05-08", "new_card_eta_days": 7}
    _, again = await call(http, stub, "POST", "/cards/report-lost", {"customer_id": "C1002"})
    assert again["case_id"] == "L0002"
    _, verified = await call(http, stub, "POST", "/customers/verify",
                             {"card_number": LI_NA.card_number, "id_last4": LI_NA.id_last4})
    assert verified["card_status"] == "lost"


@pytest.mark.parametrize("today, due", [(date(2024, 5, 1), "2024-05-25"), (date(2024, 12, 26), "2025-01-25")])
async def test_account_summary(stub, http, today, due):
    stub.app[STATE].today = lambda: today
    status, body = await call(http, stub, "GET", "/accounts/C1002/summary")
    assert status == 200
    assert body == {"customer_id": "C1002", "currency": "CNY", "balance": 12680.5, "statement_amount": 8460.0,
                    "minimum_due": 846.0, "due_date": due}


async def test_unknown_customer_is_404(stub, http):
    status, body = await call(http, stub, "GET", "/accounts/C9999/summary")
    assert (status, body["error"]) == (404, "unknown_customer")


async def test_installment_offer_and_accept(stub, http):
    status, offer = await call(http, stub, "GET", "/installments/C1002/offer")
    assert (status, offer) == (200, {"eligible": True, "amount": 8460.0, "terms": [3, 6, 12],
                                     "monthly_fee_rate": 0.006})
    status, plan = await call(http, stub, "POST", "/installments/accept", {"customer_id": "C1002", "term": 6})
    assert status == 200
    assert plan == {"plan_id": "P0001", "term": 6, "amount": 8460.0, "monthly_fee": 50.76, "monthly_payment": 1460.76}
    _, offer = await call(http, stub, "GET", "/installments/C1002/offer")
    assert offer["eligible"] is False
    status, body = await call(http, stub, "POST", "/installments/accept", {"customer_id": "C1002", "term": 6})
    assert (status, body["error"]) == (409, "not_eligible")


async def test_installment_term_must_be_offered(stub, http):
    status, body = await call(http, stub, "POST", "/installments/accept", {"customer_id": "C1002", "term": 5})
    assert (status, body["error"]) == (400, "bad_term")


async def test_ineligible_customer_gets_no_offer(stub, http):
    _, offer = await call(http, stub, "GET", "/installments/C1004/offer")
    assert offer == {"eligible": False, "amount": 0.0, "terms": [], "monthly_fee_rate": 0.006}


# --- auth ---------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "demo-token"}])
async def test_wrong_or_missing_token_is_401(stub, http, headers):
    status, body = await call(http, stub, "GET", "/accounts/C1002/summary", headers=headers)
    assert (status, body["error"]) == (401, "unauthorized")


async def test_token_comes_from_environment(monkeypatch, http):
    monkeypatch.setenv("BANK_API_TOKEN", "s3cret")
    running = await serve(create_app())
    try:
        assert (await call(http, running, "GET", "/accounts/C1002/summary"))[0] == 401
        ok, _ = await call(http, running, "GET", "/accounts/C1002/summary", headers={"Authorization": "Bearer s3cret"})
        assert ok == 200
    finally:
        await running.close()


async def test_health_needs_no_token(stub, http):
    assert await call(http, stub, "GET", "/health", headers={}) == (200, {"status": "ok"})


# --- faults -------------------------------------------------------------------


async def test_fault_error_is_500(stub, http):
    status, body = await call(http, stub, "GET", "/accounts/C1002/summary",
                              headers={**AUTH, "X-Stub-Fault": "error"})
    assert (status, body["error"]) == (500, "internal_error")


async def test_fault_garbage_is_200_not_json(stub, http):
    headers = {**AUTH, "X-Stub-Fault": "garbage"}
    async with http.get(stub.url + "/accounts/C1002/summary", headers=headers) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ContentTypeError):
            await response.json()


async def test_fault_slow_answers_late(stub, http):
    started = time.monotonic()
    status, body = await call(http, stub, "GET", "/accounts/C1002/summary",
                              headers={**AUTH, "X-Stub-Fault": "slow", "X-Stub-Delay": "0.3"})
    assert time.monotonic() - started >= 0.3
    assert status == 200 and body["customer_id"] == "C1002"


async def test_fault_hang_never_answers(stub, http):
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await call(http, stub, "GET", "/accounts/C1002/summary", headers={**AUTH, "X-Stub-Fault": "hang"})


async def test_hanging_request_does_not_hold_up_shutdown(http):
    running = await serve(create_app(fault="hang"))
    pending = asyncio.create_task(call(http, running, "GET", "/accounts/C1002/summary"))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await running.close()
    assert time.monotonic() - started < 2
    status, body = await pending
    assert (status, body["error"]) == (503, "stopping")


async def test_global_fault_applies_to_every_request(http):
    running = await serve(create_app(fault="error"))
    try:
        assert (await call(http, running, "POST", "/cards/activate", {"customer_id": "C1001"}))[0] == 500
        running.app[STATE].fault = None  # switchable while running
        assert (await call(http, running, "POST", "/cards/activate", {"customer_id": "C1001"}))[0] == 200
    finally:
        await running.close()


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        create_app(fault="flaky")


# --- logs ---------------------------------------------------------------------


async def test_logs_mask_card_numbers(stub, http, caplog):
    caplog.set_level(logging.INFO, logger="examples.bank_backend")
    for id_last4 in (LI_NA.id_last4, "0000"):
        await call(http, stub, "POST", "/customers/verify", {"card_number": LI_NA.card_number, "id_last4": id_last4})
    await call(http, stub, "POST", "/cards/report-lost", {"customer_id": "C1002"})
    assert len(caplog.records) == 3
    assert LI_NA.card_number not in caplog.text
    assert "************6783" in caplog.text
