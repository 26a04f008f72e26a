"""SIP REGISTER with digest authentication, so simulated phones sign in like real ones.

sipp answers the calls, but one sipp process serves many phones on one port; the
registration says "agent1 (or the customer trunk) is reachable at 127.0.0.1:<that
port>". Asterisk then dials PJSIP/agent1 exactly as it would a softphone, and the
endpoint's device state (what the queue and the dialer's pacing read) is real.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


class RegisterError(RuntimeError):
    pass


@dataclass(frozen=True)
class Registration:
    username: str
    password: str
    contact_port: int  # where sipp listens for this phone's calls
    expires_s: int = 3600


def digest_header(challenge: str, username: str, password: str, method: str, uri: str, cnonce: str) -> str:
    """The Authorization header answering a `WWW-Authenticate: Digest ...` challenge (RFC 2617/7616)."""
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _CHALLENGE_PARAM.finditer(challenge.split(None, 1)[1] if " " in challenge else "")}
    algorithm = params.get("algorithm", "MD5").upper()
    hash_name = {"MD5": "md5", "SHA-256": "sha256"}.get(algorithm)
    if hash_name is None:
        raise RegisterError(f"unsupported digest algorithm {algorithm}")

    def h(text: str) -> str:
        return hashlib.new(hash_name, text.encode()).hexdigest()

    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = h(f"{username}:{realm}:{password}"), h(f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
              f"algorithm={algorithm}"]
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        nc = "00000001"
        fields += [f'response="{h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}"', "qop=auth", f"nc={nc}",
                   f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr) -> None:
        self.replies.put_nowait(data)


def _status_and_headers(data: bytes) -> tuple[int, dict[str, str]]:
    head = data.decode("utf-8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("SIP/2.0") or not parts[1].isdigit():
        return 0, {}
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(parts[1]), headers


async def register(server_port: int, reg: Registration, *, host: str = "127.0.0.1",
                   timeout_s: float = 5.0) -> None:
    """Register (or with expires_s=0, unregister) `reg` at the registrar on host:server_port."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Udp, local_addr=(host, 0), remote_addr=(host, server_port))
    try:
        local_port = transport.get_extra_info("sockname")[1]
        call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
        uri = f"sip:{host}:{server_port}"
        authorization = None
        for cseq in (1, 2):
            lines = [f"REGISTER {uri} SIP/2.0",
                     f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK{secrets.token_hex(6)};rport",
                     "Max-Forwards: 70",
                     f"From: <sip:{reg.username}@{host}>;tag={tag}",
                     f"To: <sip:{reg.username}@{host}>",
                     f"Call-ID: {call_id}",
                     f"CSeq: {cseq} REGISTER",
                     f"Contact: <sip:{reg.username}@{host}:{reg.contact_port}>",
                     f"Expires: {reg.expires_s}",
                     "User-Agent: bankcc-simulator"]
            if authorization:
                lines.append(f"Authorization: {authorization}")
            transport.sendto(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
            status, headers = await _final_reply(proto, timeout_s, reg.username)
            if 200 <= status < 300:
                return
            if status == 401 and authorization is None and "www-authenticate" in headers:
                authorization = digest_header(headers["www-authenticate"], reg.username, reg.password, "REGISTER",
                                              uri, secrets.token_hex(8))
                continue
            raise RegisterError(f"REGISTER {reg.username}: SIP {status}")
        raise RegisterError(f"REGISTER {reg.username}: credentials refused")
    finally:
        transport.close()


async def _final_reply(proto: _Udp, timeout_s: float, who: str) -> tuple[int, dict[str, str]]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise RegisterError(f"REGISTER {who}: no answer from the registrar within {timeout_s:.0f} s")
        try:
            data = await asyncio.wait_for(proto.replies.get(), left)
        except asyncio.TimeoutError:
            continue
        status, headers = _status_and_headers(data)
        if status >= 200:  # 1xx are provisional
            return status, headers
