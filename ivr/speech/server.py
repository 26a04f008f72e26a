"""The AudioSocket TCP server: Asterisk connects here once per `listen`.

A call that wants to listen registers a fresh UUID (`expecting`), then has
Asterisk dial `AudioSocket/<host>:<port>/<uuid>/c(slin16)`; the connection
whose first frame carries that UUID is handed to the waiting call. A
connection nobody waits for (stale, wrong or unknown id, or not AudioSocket
at all) is hung up at once, so strangers cannot attach to a call's audio.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from typing import Iterator

from ivr.speech import audiosocket
from ivr.speech.audiosocket import AudioSocketError, Frame, FrameParser, Kind

log = logging.getLogger(__name__)

READ_CHUNK = 65536


class AudioStream:
    """One AudioSocket connection after its UUID frame: caller frames in, our audio out."""

    def __init__(self, stream_id: uuid.UUID, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 parser: FrameParser, early: list[Frame]):
        self.id = stream_id
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._frames: deque[Frame] = deque(early)
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def read(self) -> Frame | None:
        """The next frame from Asterisk; None once the stream has ended (EOF, hangup frame, bad data)."""
        while not self._frames:
            if self.closed:
                return None
            try:
                data = await self._reader.read(READ_CHUNK)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.close()
                return None
            try:
                self._frames.extend(self._parser.feed(data))
            except AudioSocketError as exc:
                log.warning("AudioSocket %s: %s; dropping the connection", self.id, exc)
                self.close()
                return None
        frame = self._frames.popleft()
        if frame.kind == Kind.HANGUP:
            self.close()
            return None
        return frame

    async def send(self, data: bytes) -> bool:
        """Write encoded frames; False if the connection is gone."""
        if self.closed or self._writer.is_closing():
            return False
        try:
            self._writer.write(data)
            await self._writer.drain()
            return True
        except (ConnectionError, OSError):
            self.close()
            return False

    async def hang_up(self, linger_s: float = 1.0) -> None:
        """Tell Asterisk we are done (it hangs up the AudioSocket channel, ending the Dial), then close.

        We wait (briefly) for Asterisk to close its side: closing at once, with its audio
        still unread in our buffer, would reset the connection under the hangup frame.
        """
        if await self.send(audiosocket.hangup()):
            try:
                async with asyncio.timeout(linger_s):
                    while await self._reader.read(READ_CHUNK):
                        pass  # audio still in flight: not part of this listen
            except (TimeoutError, ConnectionError, OSError):
                pass
        self.close()

    def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


class SpeechServer:
    def __init__(self, uuid_timeout_s: float = 5.0):
        self.uuid_timeout_s = uuid_timeout_s
        self._waiting: dict[uuid.UUID, asyncio.Future[AudioStream]] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=2)
        for future in self._waiting.values():
            future.cancel()

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @contextlib.contextmanager
    def expecting(self, stream_id: uuid.UUID) -> Iterator[asyncio.Future[AudioStream]]:
        """Register `stream_id`; the future resolves when Asterisk connects with it."""
        future: asyncio.Future[AudioStream] = asyncio.get_running_loop().create_future()
        self._waiting[stream_id] = future
        try:
            yield future
        finally:
            self._waiting.pop(stream_id, None)
            if not future.done():
                future.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            stream = await self._open(reader, writer, peer)
            if stream is not None:
                await stream.wait_closed()  # the call owns the stream until it closes it
        finally:
            self._connections.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _open(self, reader, writer, peer) -> AudioStream | None:
        parser = FrameParser()
        frames: list[Frame] = []
        try:
            async with asyncio.timeout(self.uuid_timeout_s):
                while not frames:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        return None
                    frames = parser.feed(data)
        except (TimeoutError, AudioSocketError, ConnectionError, OSError) as exc:
            log.warning("AudioSocket connection from %s rejected: %s", peer, exc or "no UUID in time")
            return None
        first = frames.pop(0)
        if first.kind != Kind.UUID:
            log.warning("AudioSocket connection from %s rejected: first frame is kind 0x%02x, not a UUID",
                        peer, first.kind)
            return None
        future = self._waiting.get(first.uuid)
        if future is None or future.done():
            log.warning("AudioSocket connection from %s for unknown stream %s: hung up", peer, first.uuid)
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(audiosocket.hangup())
                await writer.drain()
            return None
        stream = AudioStream(first.uuid, reader, writer, parser, frames)
        future.set_result(stream)
        return stream
