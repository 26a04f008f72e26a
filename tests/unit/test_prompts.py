import shutil
import textwrap
import wave
from pathlib import Path

import pytest

from ivr.prompts import PromptCatalog, PromptCatalogError, Voice
from ivr.render_prompts import speakable_text, to_pinyin
from ivr.tts.build import PromptBuilder, cache_key

CATALOG = Path(__file__).resolve().parents[2] / "prompts" / "catalog.yaml"

VALID = """\
voices:
  zh-CN: {engine: espeak-ng, voice: cmn-latn-pinyin}
  en-US: {engine: espeak-ng, voice: en-us}
prompts:
  welcome:
    zh-CN: "欢迎"
    en-US: "Welcome"
"""


def write_catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write_catalog(tmp_path, text)
    with pytest.raises(PromptCatalogError) as excinfo:
        PromptCatalog.load(path)
    return str(excinfo.value)


# --- the shipped catalogue ---------------------------------------------------


def test_shipped_catalog_loads_with_both_languages():
    catalog = PromptCatalog.load(CATALOG)
    assert catalog.languages == ("zh-CN", "en-US")
    for prompt_id in ("welcome", "main_menu", "invalid", "no_input", "too_many_tries", "goodbye"):
        assert prompt_id in catalog.ids


def test_shipped_catalog_has_audio_for_every_prompt_and_language():
    assert PromptCatalog.load(CATALOG).missing_audio() == []


def test_shipped_audio_is_8khz_mono_16bit():
    catalog = PromptCatalog.load(CATALOG)
    for prompt_id in catalog.ids:
        for lang in catalog.languages:
            with wave.open(str(catalog.audio_file(prompt_id, lang)), "rb") as wav:
                assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)


# --- PromptCatalog -----------------------------------------------------------


def test_paths_and_text(tmp_path):
    catalog = PromptCatalog.load(write_catalog(tmp_path, VALID))
    assert catalog.root == tmp_path
    assert catalog.voices["zh-CN"] == (Voice(engine="espeak-ng", voice="cmn-latn-pinyin"),)
    assert catalog.ids == ("welcome",)
    assert catalog.text("welcome", "en-US") == "Welcome"
    assert catalog.audio_base("welcome", "zh-CN") == tmp_path / "zh-CN" / "welcome"
    assert catalog.audio_file("welcome", "zh-CN") == tmp_path / "zh-CN" / "welcome.wav"


def test_unknown_prompt_or_language_raises_key_error(tmp_path):
    catalog = PromptCatalog.load(write_catalog(tmp_path, VALID))
    with pytest.raises(KeyError, match="welcom"):
        catalog.audio_base("welcom", "zh-CN")
    with pytest.raises(KeyError, match="fr-FR"):
        catalog.text("welcome", "fr-FR")


def test_missing_audio_lists_absent_files(tmp_path):
    catalog = PromptCatalog.load(write_catalog(tmp_path, VALID))
    (tmp_path / "en-US").mkdir()
    (tmp_path / "en-US" / "welcome.wav").write_bytes(b"")
    assert catalog.missing_audio() == [("welcome", "zh-CN")]


def test_missing_language_text_names_file_and_line(tmp_path):
    message = load_error(
        tmp_path,
        """\
        voices:
          zh-CN: {engine: espeak-ng, voice: cmn-latn-pinyin}
          en-US: {engine: espeak-ng, voice: en-us}
        prompts:
          welcome:
            zh-CN: "欢迎"
        """,
    )
    assert message == f"{tmp_path / 'catalog.yaml'}:5: prompt 'welcome' has no text for language 'en-US'"


def test_empty_text_is_rejected(tmp_path):
    message = load_error(tmp_path, VALID.replace('"Welcome"', '"  "'))
    assert message.startswith(f"{tmp_path / 'catalog.yaml'}:7: ")
    assert "non-empty string" in message


def test_bad_prompt_id_names_file_and_line(tmp_path):
    message = load_error(tmp_path, VALID.replace("  welcome:", "  Welcome-Menu:"))
    assert message.startswith(f"{tmp_path / 'catalog.yaml'}:5: ")
    assert "bad prompt id 'Welcome-Menu'" in message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (VALID + "extras: {}\n", 8, "unknown key 'extras' in the catalogue"),
        (VALID.replace("voice: en-us}", "voice: en-us, speed: 150}"), 3, "unknown key 'speed'"),
        (VALID + "    fr-FR: Bienvenue\n", 8, "unknown language 'fr-FR'"),
    ],
)
def test_unknown_key_names_file_and_line(tmp_path, text, line, fragment):
    message = load_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'catalog.yaml'}:{line}: ")
    assert fragment in message


def test_duplicate_key_is_rejected(tmp_path):
    message = load_error(tmp_path, VALID + "  welcome:\n    zh-CN: a\n    en-US: b\n")
    assert message.startswith(f"{tmp_path / 'catalog.yaml'}:8: ")
    assert "duplicate key 'welcome'" in message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("- just\n- a list\n", 1, "the catalogue must be a mapping"),
        ("", 1, "the catalogue must be a mapping"),
        ("voices:\n  en-US: {engine: espeak-ng, voice: en-us}\nprompts:\n  welcome: hi\n", 4,
         "prompt 'welcome' must be a mapping"),
        ("voices:\n  zh-CN: {engine: espeak-ng, voice: x}\n", 1, "the catalogue has no 'prompts'"),
    ],
)
def test_wrong_shape_names_file_and_line(tmp_path, text, line, fragment):
    message = load_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'catalog.yaml'}:{line}: ")
    assert fragment in message


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    message = load_error(tmp_path, VALID.replace('"Welcome"', '"Welcome'))
    # yaml gives up at the end of the file; the message also points at the unclosed quote.
    assert message.startswith(f"{tmp_path / 'catalog.yaml'}:8: YAML syntax error: ")
    assert "started on line 7" in message


# --- pinyin conversion and fingerprints (pure) -------------------------------


def test_to_pinyin_uses_tone_numbers():
    assert to_pinyin("欢迎致电星河银行") == "huan1 ying2 zhi4 dian4 xing1 he2 yin2 hang2"


def test_to_pinyin_marks_neutral_tone_as_5():
    assert to_pinyin("我们") == "wo3 men5"


def test_to_pinyin_applies_tone_sandhi():
    assert to_pinyin("你好") == "ni2 hao3"
    assert to_pinyin("不是") == "bu2 shi4"


def test_to_pinyin_keeps_digits_and_punctuation():
    assert to_pinyin("请按1，再见。") == "qing3 an4 1， zai4 jian4 。"


def test_speakable_text_converts_only_for_pinyin_voices():
    assert speakable_text(Voice("espeak-ng", "cmn-latn-pinyin"), "再见") == "zai4 jian4"
    assert speakable_text(Voice("espeak-ng", "en-us"), "Goodbye") == "Goodbye"


def test_cache_key_changes_with_language_engine_voice_and_text():
    base = cache_key("en-US", [Voice("espeak-ng", "en-us")], "Hello")
    assert base == cache_key("en-US", [Voice("espeak-ng", "en-us")], "Hello")
    assert base != cache_key("en-US", [Voice("espeak-ng", "en-us")], "Hello.")
    assert base != cache_key("en-US", [Voice("espeak-ng", "en-gb")], "Hello")
    assert base != cache_key("en-US", [Voice("other", "en-us")], "Hello")
    assert base != cache_key("en-GB", [Voice("espeak-ng", "en-us")], "Hello")


# --- rendering (needs espeak-ng and sox) -------------------------------------


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are needed to render audio",
)
def test_render_prompt_writes_8khz_mono_16bit_wav(tmp_path):
    catalog = PromptCatalog.load(write_catalog(tmp_path, VALID.replace('"欢迎"', '"欢迎致电星河银行。"')))
    PromptBuilder(catalog).build()
    out = catalog.audio_file("welcome", "zh-CN")
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert 0.5 < wav.getnframes() / wav.getframerate() < 6
    # no temp files left behind; the 16 kHz copy sits beside the WAV
    assert sorted(out.parent.iterdir()) == [out.with_suffix(".sln16"), out]
