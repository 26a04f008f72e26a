"""The simulator's pure parts: parameters, per-number plans, sipp scenarios, audio, SIP digest."""
from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from dialer.simulator import audio, scenarios
from dialer.simulator.plan import (BEHAVIOURS, PlanError, SimConfig, behaviour, demo_numbers, load_config,
                                   make_plan, parse_config, table_text)
from dialer.simulator.register import digest_header
from dialer.simulator.run import DEFAULT_CONFIG


def test_the_shipped_parameters_load():
    config = load_config(DEFAULT_CONFIG)
    assert config.agents.count == 3 and config.agents.queue == "outbound"
    assert 0 < config.customers.answer < 1


@pytest.mark.parametrize("raw, message", [
    ({"customers": {"answer": 1.5}}, "customers.answer must be a probability"),
    ({"customers": {"answer": 0.8, "busy": 0.3}}, "must not exceed 1"),
    ({"customers": {"ring_seconds": [3, 1]}}, "customers.ring_seconds"),
    ({"customers": {"talk_seconds": "long"}}, "customers.talk_seconds"),
    ({"customers": {"patience": 3}}, "customers.patience: unknown setting"),
    ({"agents": {"count": 11}}, "agents.count must be between 1 and 10"),
    ({"agents": {"count": True}}, "agents.count"),
    ({"seed": "x"}, "seed must be a whole number"),
    ({"trunk": "x"}, "trunk: unknown setting"),
    ([1, 2], "must be a mapping"),
])
def test_bad_parameters_are_named(raw, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        parse_config(raw)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text("customers: [\n")
    with pytest.raises(PlanError, match="sim.yaml: not valid YAML"):
        load_config(path)


def test_a_number_always_behaves_the_same_whatever_the_list():
    config = SimConfig()
    numbers = demo_numbers(200, seed=1)
    alone = {n: behaviour(n, config) for n in numbers[:10]}
    assert {n: b for n, b in make_plan(numbers, config).items() if n in alone} == alone
    other_seed = parse_config({"seed": 99})
    assert any(behaviour(n, other_seed) != b for n, b in alone.items())


def test_the_mix_follows_the_probabilities():
    config = parse_config({"customers": {"answer": 0.6, "machine": 0.25, "busy": 0.15, "invalid": 0.05}})
    kinds = Counter(b.kind for b in make_plan(demo_numbers(4000, seed=3), config).values())
    assert set(kinds) == set(BEHAVIOURS)
    assert abs(kinds["busy"] / 4000 - 0.15) < 0.03 and abs(kinds["invalid"] / 4000 - 0.05) < 0.02
    assert abs(kinds["machine"] / 4000 - 0.6 * 0.25) < 0.03
    assert abs(kinds["no_answer"] / 4000 - 0.2) < 0.03


def test_behaviours_carry_what_the_dialer_should_record():
    config = parse_config({"customers": {"ring_seconds": [1, 2], "talk_seconds": [5, 6], "hangs_up_first": 0.5},
                           "agents": {"answer_seconds": [0.2, 0.5]}})
    plan = make_plan(demo_numbers(300, seed=4), config)
    for b in plan.values():
        assert b.expected_disposition in ("answered_human", "machine", "busy", "failed", "no_answer")
        if b.kind == "human":
            assert b.hangup_by in ("customer", "agent") and 1000 <= b.ring_ms <= 2000
            low = 5000 + (3500 if b.hangup_by == "customer" else 0)  # a customer waits to reach the agent
            assert low <= b.talk_ms <= low + 1000
        elif b.kind == "machine":
            assert b.hangup_by == "system"
    assert {b.hangup_by for b in plan.values() if b.kind == "human"} == {"customer", "agent"}


def test_table_is_an_sipp_injection_file():
    plan = make_plan(["+8613800000001", "+8613800000002"], SimConfig())
    lines = table_text(plan).splitlines()
    assert lines[0] == "USER" and len(lines) == 3
    assert all(len(line.split(";")) == 6 and line.startswith("+86") for line in lines[1:])


def test_a_customer_who_presses_a_key_is_in_the_table_and_the_scenario(tmp_path):
    from dialer.simulator import audio, scenarios
    from dialer.simulator.plan import PlanError, presses_key

    plan = make_plan(["+8613800000001", "+8613800000002"], SimConfig(),
                     overrides={"+8613800000002": presses_key("+8613800000002", "5")})
    assert plan["+8613800000002"].expected_disposition == "answered_human"
    assert table_text(plan).splitlines()[2] == "+8613800000002;keys;500;0;system;5"
    with pytest.raises(PlanError):
        presses_key("+86138", "#")
    pcaps = audio.write_greetings(tmp_path)
    xml = scenarios.customer_scenario(tmp_path / "plan.csv", pcaps["human"], pcaps["machine"], pcaps["keys"])
    assert 'next="keys_5"' in xml and "keys_5.pcap" in xml and "telephone-event/8000" in xml
    # 20 presses of 8 RTP packets each, every press with its own, rising RTP timestamp
    data = pcaps["keys"]["5"].read_bytes()
    stamps, offset = [], 24
    while offset < len(data):
        length = int.from_bytes(data[offset + 8:offset + 12], "little")
        rtp = data[offset + 16 + 42:offset + 16 + length]
        assert rtp[1] & 0x7F == 101 and rtp[12] == 5
        stamps.append(int.from_bytes(rtp[4:8], "big"))
        offset += 16 + length
    assert len(stamps) == 160 and len(set(stamps)) == 20 and stamps == sorted(stamps)


def test_demo_numbers_are_distinct_mobiles():
    numbers = demo_numbers(50, seed=7)
    assert len(set(numbers)) == 50 and all(re.fullmatch(r"\+86138\d{8}", n) for n in numbers)


@pytest.mark.parametrize("which", ["customers", "agents"])
def test_scenarios_are_valid_xml_and_sipp_would_accept_their_variables(which, tmp_path):
    table = tmp_path / "plan.csv"
    if which == "customers":
        xml = scenarios.customer_scenario(table, tmp_path / "human.pcap", tmp_path / "machine.pcap")
    else:
        xml = scenarios.agent_scenario(table, answer_ms=(200, 500), default_talk_ms=(1000, 2000))
    root = ET.fromstring(xml.split("\n", 2)[2])  # after the XML declaration and DOCTYPE
    labels = {e.get("id") for e in root.iter("label")}
    jumps = {e.get("next") for e in root.iter() if e.get("next")} | {e.get("ontimeout") for e in root.iter()
                                                                      if e.get("ontimeout")}
    assert jumps <= labels, jumps - labels
    # sipp refuses a scenario in which a variable is used only once
    names = re.findall(r'assign_to="([^"]+)"', xml)
    for name in {n for group in names for n in group.split(",")}:
        uses = len(re.findall(rf'(?:assign_to="[^"]*\b{name}\b|\[\${name}\]|variable="{name}"|test="{name}")', xml))
        assert uses >= 2, name
    assert 'file="plan.csv"' in xml  # sipp knows injection files by their base name


def test_ulaw_and_rtp_capture():
    assert audio.ulaw(0) == 0xFF and audio.ulaw(32767) == 0x80 and audio.ulaw(-32768) == 0x00
    samples = audio.silence(0.05) + audio.beep(0.05)
    data = audio.rtp_pcap(samples)
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    packets, offset = [], 24
    while offset < len(data):
        _, _, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        packets.append(data[offset + 16:offset + 16 + length])
        offset += 16 + length
    assert len(packets) == 5  # 100 ms in 20 ms packets
    rtp = [p[42:] for p in packets]  # Ethernet 14 + IPv4 20 + UDP 8
    assert all(len(p) == 12 + 160 and p[1] & 0x7F == 0 for p in rtp)
    assert [struct.unpack("!H", p[2:4])[0] for p in rtp] == [1, 2, 3, 4, 5]
    assert [struct.unpack("!I", p[4:8])[0] for p in rtp] == [0, 160, 320, 480, 640]


def test_greetings_have_the_shape_amd_judges():
    human, machine = audio.human_greeting(tail_s=2.0), audio.machine_greeting()
    assert 2.5 < len(human) / audio.RATE < 4.5   # a word and a wait
    assert len(machine) / audio.RATE > 6.0        # seconds of talk, a beep
    speech = [abs(s) for s in machine[int(0.3 * audio.RATE):int(5.2 * audio.RATE)]]
    assert sum(speech) / len(speech) > 300        # well above AMD's silence threshold


def test_digest_answers_the_rfc_2617_example():
    challenge = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                 'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = digest_header(challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "nc=00000001" in header


def test_digest_without_qop_and_with_sha256():
    plain = digest_header('Digest realm="asterisk", nonce="abc"', "agent1", "pw", "REGISTER", "sip:127.0.0.1",
                          cnonce="x")
    assert "qop" not in plain and "algorithm=MD5" in plain
    sha = digest_header('Digest realm="asterisk", nonce="abc", algorithm=SHA-256, qop="auth"', "agent1", "pw",
                        "REGISTER", "sip:127.0.0.1", cnonce="x")
    assert "algorithm=SHA-256" in sha and re.search(r'response="[0-9a-f]{64}"', sha)
