"""Masking of phone and card numbers in log text."""
import io
import logging

import pytest

from common.masking import MaskingFilter, mask_digits, mask_numbers

# --- mask_digits ----------------------------------------------------------------


@pytest.mark.parametrize(("value", "masked"), [
    ("13812345678", "*******5678"),
    ("+8613812345678", "+*********5678"),
    ("6222021234567890", "************7890"),
    ("138-1234-5678", "***-****-5678"),
    ("(010) 1234-5678", "(***) ****-5678"),
    ("1234", "1234"),
    ("12", "12"),
    ("", ""),
    ("no digits", "no digits"),
])
def test_mask_digits_keeps_the_last_four_and_the_layout(value, masked):
    assert mask_digits(value) == masked


def test_mask_digits_keep_last():
    assert mask_digits("13812345678", keep_last=2) == "*********78"
    assert mask_digits("13812345678", keep_last=0) == "***********"
    assert mask_digits("13812345678", keep_last=20) == "13812345678"


# --- mask_numbers ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "masked"), [
    # Chinese mobile numbers, with and without the country code
    ("+8613812345678", "+*********5678"),
    ("13812345678", "*******5678"),
    ("+86 138 1234 5678", "+** *** **** 5678"),
    ("+86-138-1234-5678", "+**-***-****-5678"),
    ("138 1234 5678", "*** **** 5678"),
    ("138-1234-5678", "***-****-5678"),
    # card numbers (13-19 digits), plain and grouped
    ("6222021234567890", "************7890"),
    ("6222 0212 3456 7890", "**** **** **** 7890"),
    ("6222-0212-3456-7890", "****-****-****-7890"),
    ("6222021234567890123", "***************0123"),
    ("4111111111111", "*********1111"),
    # landline
    ("010-12345678", "***-****5678"),
])
def test_numbers_are_masked(text, masked):
    assert mask_numbers(text) == masked


@pytest.mark.parametrize("text", [
    "ext 4000",
    "dialled 4000",
    "bank hotline 95555",
    "otp 123456",
    "node main_menu step 3 of 12",
    "call id 42, 2 tries",
    "GET /healthz 200 1413",
    "2024-01-15 10:30:00",
    "",
])
def test_short_numbers_are_untouched(text):
    assert mask_numbers(text) == text


@pytest.mark.parametrize("text", ["(010) 8888-9999", "landline 8888-9999", "8888 9999"])
def test_grouped_eight_digit_landline_is_masked(text):
    assert "8888" not in mask_numbers(text)


def test_seven_digits_is_the_threshold():
    assert mask_numbers("123456") == "123456"
    assert mask_numbers("1234567") == "***4567"


def test_text_with_several_numbers():
    text = "call from 13812345678 to 13987654321 about card 6222021234567890, transferred to ext 4000"
    assert mask_numbers(text) == (
        "call from *******5678 to *******4321 about card ************7890, transferred to ext 4000"
    )


def test_numbers_inside_chinese_text():
    assert mask_numbers("来电号码13812345678，请回拨") == "来电号码*******5678，请回拨"


def test_numbers_inside_words_and_key_values():
    assert mask_numbers("caller_id=13812345678;dnid=4000") == "caller_id=*******5678;dnid=4000"
    assert mask_numbers("'agi_callerid': '+8613812345678'") == "'agi_callerid': '+*********5678'"


def test_masking_is_idempotent():
    text = "from +86 138 1234 5678 card 6222 0212 3456 7890 ext 4000"
    once = mask_numbers(text)
    assert mask_numbers(once) == once
    assert "1234 5" not in once


def test_no_full_number_survives():
    for number in ("13812345678", "8613812345678", "6222021234567890"):
        masked = mask_numbers(f"x {number} y")
        assert number not in masked
        assert number[:-4] not in masked.replace("*", "")


# --- MaskingFilter --------------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


@pytest.fixture
def logger():
    """A real, isolated logger with a capturing handler that masks (as common.logs does)."""
    log = logging.getLogger("test_masking.isolated")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    handler = Capture()
    handler.addFilter(MaskingFilter())
    log.addHandler(handler)
    yield log, handler
    log.removeHandler(handler)


def test_filter_masks_percent_args(logger):
    log, handler = logger
    log.info("call from %s to %s", "+8613812345678", "4000")
    [record] = handler.records
    assert record.getMessage() == "call from +*********5678 to 4000"
    assert record.args is None
    assert handler.lines == ["INFO test_masking.isolated: call from +*********5678 to 4000"]


def test_filter_masks_int_and_dict_args(logger):
    log, handler = logger
    log.warning("caller %d card %s", 13812345678, "6222 0212 3456 7890")
    log.warning("caller %(phone)s", {"phone": "13812345678"})
    assert [r.getMessage() for r in handler.records] == [
        "caller *******5678 card **** **** **** 7890",
        "caller *******5678",
    ]


def test_filter_masks_numbers_in_the_message_itself(logger):
    log, handler = logger
    log.error("callback requested by 13812345678")
    assert handler.lines == ["ERROR test_masking.isolated: callback requested by *******5678"]


def test_filter_masks_non_string_messages(logger):
    log, handler = logger
    log.info({"caller": "13812345678"})
    assert handler.records[0].getMessage() == "{'caller': '*******5678'}"


def test_filter_leaves_clean_records_alone(logger):
    log, handler = logger
    message = "menu choice 2 at node main_menu"
    log.info(message)
    [record] = handler.records
    assert record.msg is message
    assert record.args == ()


def test_filter_resolves_args_even_without_numbers(logger):
    log, handler = logger
    log.info("node %r took exit %s", "main_menu", "2")
    [record] = handler.records
    assert record.msg == "node 'main_menu' took exit 2"
    assert record.args is None
    assert record.getMessage() == "node 'main_menu' took exit 2"


def test_filter_always_passes_the_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%s", ("13812345678",), None)
    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == "n=*******5678"


def test_handlers_after_the_masking_one_see_the_masked_record(logger):
    log, masking_handler = logger
    plain = Capture()  # no filter of its own
    log.addHandler(plain)
    try:
        log.info("caller %s", "13812345678")
    finally:
        log.removeHandler(plain)
    assert plain.lines == ["INFO test_masking.isolated: caller *******5678"]


def test_filter_on_the_logger_works_too():
    log = logging.getLogger("test_masking.logger_filter")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = Capture()
    masking = MaskingFilter()
    log.addHandler(handler)
    log.addFilter(masking)
    try:
        log.info("%s", "+86 138 1234 5678")
    finally:
        log.removeFilter(masking)
        log.removeHandler(handler)
    assert handler.records[0].getMessage() == "+** *** **** 5678"


def test_exception_text_is_masked_too(logger):
    log, handler = logger
    try:
        raise ValueError("duplicate caller_id 13812345678")
    except ValueError:
        log.exception("could not record call")
    output = handler.lines[0]
    assert "could not record call" in output
    assert "13812345678" not in output


def stream_logger(name: str, masking: bool) -> tuple[logging.Logger, logging.Handler, io.StringIO]:
    """A logger writing through a stdlib StreamHandler, set up like common.logs.setup_logging."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if masking:
        handler.addFilter(MaskingFilter())
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers[:] = [handler]
    return log, handler, stream


def test_stream_handler_with_the_filter_writes_masked_lines():
    log, handler, stream = stream_logger("test_masking.stream", masking=True)
    try:
        log.info("call %s from %s", 42, "13812345678")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "INFO test_masking.stream: call 42 from *******5678\n"


def test_bad_format_args_do_not_raise_into_the_caller(monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)
    log, handler, _ = stream_logger("test_masking.bad_format_masked", masking=True)
    try:
        log.error("caller %s and %s", "13812345678")  # one argument short
    finally:
        log.removeHandler(handler)


def test_bad_format_args_without_the_filter_do_not_raise(monkeypatch):
    # The baseline the test above compares with: plain logging reports the error and carries on.
    monkeypatch.setattr(logging, "raiseExceptions", False)
    log, handler, stream = stream_logger("test_masking.bad_format_plain", masking=False)
    try:
        log.error("caller %s and %s", "x")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == ""
