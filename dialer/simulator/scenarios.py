"""sipp scenarios for the simulated customers' carrier and the simulated agents' phones.

Both are UAS scenarios: one sipp process answers every call to its port. What a
call does is looked up by number in the plan table (an sipp injection file the
simulator writes, indexed on the number):

    number;behaviour;ring_ms;talk_ms;hangup_by;key

Customers (looked up by the dialled number, the Request-URI user):
    busy        486 Busy Here at once
    invalid     404 Not Found (a number not in service)
    no_answer   180 Ringing until Asterisk gives up and CANCELs
    human       rings ring_ms, answers, says "Hello?", then talks
    keys        as human, then presses `key` every 2.5 s (an outbound IVR flow's menu) until the BYE
    machine     rings ring_ms, answers, plays a long greeting and a beep
An answered customer hangs up talk_ms after answering when hangup_by is
"customer"; otherwise it waits for the other side's BYE (an agent, or the
dialplan hanging up on a machine).

Agents (looked up by the caller, the From user: the dialplan shows agents the
customer's number) answer after a short ring, and hang up talk_ms after
answering when hangup_by is "agent"; otherwise the customer does. An unknown
caller gets a random talk time.

A BYE arriving while a side is still talking is the other side hanging up
first: sipp answers an unexpected BYE with 200 OK and ends that call.
sipp refuses scenarios with a variable used only once, hence some log lines.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'

_REPLY = """  <send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0

]]></send>
"""

_OK_SDP = """  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sim 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
]]></send>
"""

_BYE = """  <send retrans="500"><![CDATA[
BYE [$peer_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[$me]@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: [$peer_from]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" timeout="5000" ontimeout="end"/>
"""

_WAIT_BYE = """  <recv request="BYE" timeout="{timeout_ms}" ontimeout="{ontimeout}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""


# After a CANCEL the INVITE still needs its final answer: same Via and CSeq number as the
# CANCEL (RFC 3261 9.1), method INVITE; so the INVITE's CSeq number is kept.
_CSEQ = """      <ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:" check_it="true"
            assign_to="cseq_all,invite_cseq"/>
"""


def _lookup(table: Path, key_var: str) -> str:
    """Actions: look the call up in the plan table; `known` says whether it is there."""
    f = quoteattr(table.name)[1:-1]  # sipp names injection files by their base name

    def field(n: int) -> str:
        return f'[field{n} file=&quot;{f}&quot; line=&quot;[$line]&quot;]'

    return f"""      <lookup assign_to="line" file="{f}" key="[${key_var}]"/>
      <test assign_to="known" variable="line" compare="greater_than_equal" value="0"/>
      <assignstr assign_to="behaviour" value="{field(1)}"/>
      <assignstr assign_to="ring_text" value="{field(2)}"/>
      <assignstr assign_to="talk_text" value="{field(3)}"/>
      <assignstr assign_to="hangup_by" value="{field(4)}"/>
      <assignstr assign_to="key" value="{field(5)}"/>
      <todouble assign_to="ring_ms" variable="ring_text"/>
      <todouble assign_to="talk_ms" variable="talk_text"/>
"""


def _is(var: str, value: str, flag: str) -> str:
    return (f'      <strcmp assign_to="{flag}_cmp" variable="{var}" value="{value}"/>\n'
            f'      <test assign_to="{flag}" variable="{flag}_cmp" compare="equal" value="0"/>\n')


_SAVE_DIALOG = """      <ereg regexp="&lt;([^&gt;]+)&gt;" search_in="hdr" header="Contact:" check_it="true"
            assign_to="contact_all,peer_contact"/>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="peer_from"/>
"""


def customer_scenario(table: Path, human_pcap: Path, machine_pcap: Path, key_pcaps: dict[str, Path] | None = None,
                      *, machine_wait_ms: int = 60_000, human_wait_ms: int = 300_000) -> str:
    """The carrier: every dialled number behaves as its row in `table` says."""
    def play(pcap: Path) -> str:
        return f'  <nop><action><exec play_pcap_audio={quoteattr(str(pcap))}/></action></nop>\n'

    key_pcaps = key_pcaps or {}
    key_tests = "".join(_is("key", k, f"presses_{k}") for k in sorted(key_pcaps))
    # after "Hello?" (about 4 s of greeting and silence: AMD hears a person), one key's presses
    key_branches = "".join(f'  <nop test="presses_{k}" next="keys_{k}"/>\n' for k in sorted(key_pcaps))
    key_plays = "".join(f'  <label id="keys_{k}"/>\n' + play(pcap) + '  <nop next="wait_bye"/>\n'
                        for k, pcap in sorted(key_pcaps.items()))

    return (_HEAD + '<scenario name="bankcc simulated customers">\n'
            '  <recv request="INVITE">\n    <action>\n'
            '      <ereg regexp="^INVITE sip:([^@;>]+)@" search_in="msg" check_it="true"'
            ' assign_to="request_line,me"/>\n'
            + _SAVE_DIALOG + _CSEQ + _lookup(table, "me")
            + _is("behaviour", "busy", "is_busy") + _is("behaviour", "invalid", "is_invalid")
            + _is("behaviour", "no_answer", "is_no_answer") + _is("behaviour", "machine", "is_machine")
            + _is("hangup_by", "customer", "hangs_up") + _is("behaviour", "keys", "is_keys") + key_tests
            + '      <log message="call to [$me] line [$line] known [$known]: [$behaviour] ring [$ring_ms] talk'
              ' [$talk_ms] hangs up [$hangs_up] busy [$is_busy] key [$key] [$request_line] [$contact_all]'
              ' [$peer_contact] [$peer_from] cseq [$cseq_all] [$invite_cseq]"/>\n'
            '    </action>\n  </recv>\n'
            + _REPLY.format(status="100 Trying")
            + '  <nop test="is_busy" next="busy"/>\n'
            + '  <nop test="is_invalid" next="invalid"/>\n'
            + '  <nop test="known" next="known"/>\n'
            + '  <nop next="invalid"/>\n'
            + '  <label id="known"/>\n'
            + _REPLY.format(status="180 Ringing")
            + '  <nop test="is_no_answer" next="no_answer"/>\n'
            + '  <pause variable="ring_ms"/>\n'
            + _OK_SDP
            + '  <recv request="ACK"/>\n'
            + '  <nop test="is_machine" next="machine"/>\n'
            + play(human_pcap)
            + '  <nop test="is_keys" next="keys"/>\n'
            + '  <nop test="hangs_up" next="talk"/>\n'
            + '  <label id="wait_bye"/>\n'
            + _WAIT_BYE.format(timeout_ms=human_wait_ms, ontimeout="hang_up")
            + '  <nop next="end"/>\n'
            + '  <label id="talk"/>\n'
            + '  <pause variable="talk_ms"/>\n'
            + '  <label id="hang_up"/>\n'
            + _BYE
            + '  <nop next="end"/>\n'
            + '  <label id="keys"/>\n'
            + '  <pause milliseconds="4500"/>\n'
            + key_branches
            + '  <nop next="wait_bye"/>\n'
            + key_plays
            + '  <label id="machine"/>\n'
            + play(machine_pcap)
            + _WAIT_BYE.format(timeout_ms=machine_wait_ms, ontimeout="hang_up")
            + '  <nop next="end"/>\n'
            + '  <label id="no_answer"/>\n'
            + '  <recv request="CANCEL"/>\n'
            + _REPLY.format(status="200 OK").replace("[last_To:];tag=[pid]SIPpTag01[call_number]", "[last_To:]")
            + _INVITE_FAILURE.format(status="487 Request Terminated")
            + '  <recv request="ACK" timeout="5000" ontimeout="end"/>\n'
            + '  <nop next="end"/>\n'
            + '  <label id="busy"/>\n'
            + _REPLY.format(status="486 Busy Here")
            + '  <recv request="ACK" timeout="5000" ontimeout="end"/>\n'
            + '  <nop next="end"/>\n'
            + '  <label id="invalid"/>\n'
            + _REPLY.format(status="404 Not Found")
            + '  <recv request="ACK" timeout="5000" ontimeout="end"/>\n'
            + '  <label id="end"/>\n'
            + '</scenario>\n')


_INVITE_FAILURE = """  <send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [$invite_cseq] INVITE
Content-Length: 0

]]></send>
"""


def agent_scenario(table: Path, *, answer_ms: tuple[int, int], default_talk_ms: tuple[int, int],
                   wait_ms: int = 300_000) -> str:
    """Agents' phones: auto-answer after a short ring, talk, hang up (or wait for the customer to)."""
    lo, hi = answer_ms
    talk_lo, talk_hi = default_talk_ms
    return (_HEAD + '<scenario name="bankcc simulated agents">\n'
            '  <recv request="INVITE">\n    <action>\n'
            '      <ereg regexp="^INVITE sip:([^@;>]+)@" search_in="msg" check_it="true"'
            ' assign_to="request_line,me"/>\n'
            '      <ereg regexp="sip:([^@;>]+)@" search_in="hdr" header="From:" check_it="true"'
            ' assign_to="from_uri,caller"/>\n'
            + _SAVE_DIALOG + _lookup(table, "caller")
            + _is("hangup_by", "agent", "hangs_up")
            + '      <log message="agent [$me] call from [$caller] line [$line] known [$known]: [$behaviour]'
              ' ring [$ring_ms] talk [$talk_ms] hangs up [$hangs_up] key [$key] [$request_line] [$from_uri]'
              ' [$contact_all] [$peer_contact] [$peer_from]"/>\n'
            '    </action>\n  </recv>\n'
            + _REPLY.format(status="180 Ringing")
            + f'  <pause distribution="uniform" min="{lo}" max="{hi}"/>\n'
            + _OK_SDP
            + '  <recv request="ACK"/>\n'
            + '  <nop test="known" next="known"/>\n'
            + f'  <pause distribution="uniform" min="{talk_lo}" max="{talk_hi}"/>\n'
            + '  <nop next="hang_up"/>\n'
            + '  <label id="known"/>\n'
            + '  <nop test="hangs_up" next="talk"/>\n'
            + _WAIT_BYE.format(timeout_ms=wait_ms, ontimeout="hang_up")
            + '  <nop next="end"/>\n'
            + '  <label id="talk"/>\n'
            + '  <pause variable="talk_ms"/>\n'
            + '  <label id="hang_up"/>\n'
            + _BYE
            + '  <label id="end"/>\n'
            + '</scenario>\n')
