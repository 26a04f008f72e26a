"""Prompt catalogue: which prompts exist, their text per language, and where their audio lives.

The catalogue is a YAML file (prompts/catalog.yaml). It is parsed with
``yaml.compose`` rather than ``safe_load`` so every node keeps its line number
and a bad entry can be reported as ``file:line: problem``.

``voices`` gives, per language, the text-to-speech engines to try in order,
each with its own voice::

    voices:
      zh-CN:
        - {engine: edge, voice: zh-CN-XiaoxiaoNeural}
        - {engine: espeak, voice: cmn-latn-pinyin}

A single mapping (``zh-CN: {engine: espeak, voice: cmn-latn-pinyin}``) is a
one-engine list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

PROMPT_ID = re.compile(r"[a-z0-9_]+")
# Language tags become directory names, so only plain BCP 47-like tags are allowed.
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_STR_TAG = "tag:yaml.org,2002:str"


class PromptCatalogError(ValueError):
    """A catalogue problem, reported as ``path:line: message``."""


@dataclass(frozen=True)
class Voice:
    engine: str
    voice: str


@dataclass(frozen=True)
class PromptCatalog:
    root: Path  # the prompts folder; audio is root/<lang>/<id>.wav
    voices: dict[str, tuple[Voice, ...]]  # language -> engines to try, preferred first
    texts: dict[str, dict[str, str]]  # prompt id -> language -> text

    @classmethod
    def load(cls, path: Path) -> PromptCatalog:
        path = Path(path)
        source = _Source(path)
        root_node = source.compose()
        top = source.mapping(root_node, "the catalogue")
        source.require_keys(top, {"voices", "prompts"}, "the catalogue", root_node)
        voices = _parse_voices(source, top["voices"][1])
        texts = _parse_prompts(source, top["prompts"][1], voices)
        return cls(root=path.parent, voices=voices, texts=texts)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.voices)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def has_text(self, prompt_id: str, lang: str) -> bool:
        return lang in self.texts.get(prompt_id, {})

    def text(self, prompt_id: str, lang: str) -> str:
        self._check(prompt_id, lang)
        return self.texts[prompt_id][lang]

    def audio_base(self, prompt_id: str, lang: str) -> Path:
        """Audio path without extension, as Asterisk's STREAM FILE expects."""
        self._check(prompt_id, lang)
        return self.root / lang / prompt_id

    def audio_file(self, prompt_id: str, lang: str) -> Path:
        """8 kHz signed-linear WAV: what every channel can play."""
        return self.audio_base(prompt_id, lang).with_suffix(".wav")

    def wideband_file(self, prompt_id: str, lang: str) -> Path:
        """16 kHz raw signed-linear (Asterisk format ``sln16``) for wideband channels."""
        return self.audio_base(prompt_id, lang).with_suffix(".sln16")

    def missing_audio(self) -> list[tuple[str, str]]:
        return [
            (prompt_id, lang)
            for prompt_id in self.ids
            for lang in self.languages
            if not self.audio_file(prompt_id, lang).is_file()
        ]

    def _check(self, prompt_id: str, lang: str) -> None:
        # Fail on a typo in flow code instead of handing Asterisk a path that does not exist.
        if prompt_id not in self.texts:
            raise KeyError(f"unknown prompt {prompt_id!r}")
        if lang not in self.voices:
            raise KeyError(f"unknown language {lang!r}")


def _parse_voices(source: _Source, node: yaml.Node) -> dict[str, tuple[Voice, ...]]:
    from ivr.tts import ENGINE_NAMES, canonical_engine

    voices = {}
    for lang, (key_node, value_node) in source.mapping(node, "'voices'").items():
        if not LANGUAGE_TAG.fullmatch(lang):
            raise source.error(key_node, f"bad language tag {lang!r}")
        if isinstance(value_node, yaml.SequenceNode):
            items = [(item, f"engine {n} for {lang!r}") for n, item in enumerate(value_node.value, 1)]
            if not items:
                raise source.error(value_node, f"the engine list for {lang!r} is empty")
        else:
            items = [(value_node, f"voice for {lang!r}")]
        chain: list[Voice] = []
        for item, what in items:
            fields = source.mapping(item, what)
            source.require_keys(fields, {"engine", "voice"}, what, item)
            engine_node = fields["engine"][1]
            engine = source.string(engine_node, f"'engine' of {what}")
            if canonical_engine(engine) not in ENGINE_NAMES:
                raise source.error(
                    engine_node, f"unknown engine {engine!r} for {lang!r}: use one of {', '.join(ENGINE_NAMES)}"
                )
            if any(canonical_engine(v.engine) == canonical_engine(engine) for v in chain):
                raise source.error(engine_node, f"engine {engine!r} is listed twice for {lang!r}")
            chain.append(Voice(engine=engine, voice=source.string(fields["voice"][1], f"'voice' of {what}")))
        voices[lang] = tuple(chain)
    if not voices:
        raise source.error(node, "'voices' is empty")
    return voices


def _parse_prompts(
    source: _Source, node: yaml.Node, voices: dict[str, tuple[Voice, ...]]
) -> dict[str, dict[str, str]]:
    texts = {}
    for prompt_id, (key_node, value_node) in source.mapping(node, "'prompts'").items():
        if not PROMPT_ID.fullmatch(prompt_id):
            raise source.error(key_node, f"bad prompt id {prompt_id!r}: use [a-z0-9_]+")
        by_lang = source.mapping(value_node, f"prompt {prompt_id!r}")
        for lang, (lang_node, _) in by_lang.items():
            if lang not in voices:
                raise source.error(
                    lang_node, f"prompt {prompt_id!r} has text for unknown language {lang!r}"
                )
        for lang in voices:
            if lang not in by_lang:
                raise source.error(
                    key_node, f"prompt {prompt_id!r} has no text for language {lang!r}"
                )
        texts[prompt_id] = {
            lang: source.string(by_lang[lang][1], f"text of prompt {prompt_id!r} in {lang!r}")
            for lang in voices
        }
    return texts


class _Source:
    """The YAML file being loaded; turns node positions into PromptCatalogError."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, node: yaml.Node | None, message: str) -> PromptCatalogError:
        line = node.start_mark.line + 1 if node is not None else 1
        return PromptCatalogError(f"{self.path}:{line}: {message}")

    def compose(self) -> yaml.Node | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptCatalogError(f"{self.path}: cannot read: {exc.strerror}") from exc
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 1
            problem = exc.problem
            # For an unclosed quote or bracket the parser fails far from the cause; say where it began.
            if exc.context and exc.context_mark:
                problem += f" ({exc.context} started on line {exc.context_mark.line + 1})"
            raise PromptCatalogError(f"{self.path}:{line}: YAML syntax error: {problem}") from exc

    def mapping(self, node: yaml.Node | None, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """String-keyed mapping as key -> (key node, value node), rejecting duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, f"a key in {what}")
            if key in items:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            items[key] = (key_node, value_node)
        return items

    def require_keys(
        self,
        items: dict[str, tuple[yaml.Node, yaml.Node]],
        keys: set[str],
        what: str,
        node: yaml.Node | None,
    ) -> None:
        for key, (key_node, _) in items.items():
            if key not in keys:
                raise self.error(key_node, f"unknown key {key!r} in {what}")
        missing = sorted(keys - items.keys())
        if missing:
            raise self.error(node, f"{what} has no {missing[0]!r}")

    def string(self, node: yaml.Node, what: str) -> str:
        if not (isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG and node.value.strip()):
            raise self.error(node, f"{what} must be a non-empty string")
        return node.value
