"""`language`: switch the prompt language for the rest of the call.

    to_english:
      type: language
      language: en-US          # must be one of the flow's languages
      next: main_menu
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class LanguageNode(Node):
    type_name = "language"
    schema = {"properties": {"language": {"type": "string", "examples": ["zh-CN", "en-US"]},
                             "next": {"type": "string"}},
              "required": ["language", "next"]}

    def __init__(self, node_id: str, exits: dict[str, str], language: str):
        super().__init__(node_id, exits)
        self.language = language

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "LanguageNode":
        language = spec.text("language")
        spec.target("next")
        return cls(spec.node_id, spec.exits, language)

    def check(self, languages: tuple[str, ...]) -> str | None:
        if self.language not in languages:
            return f"language {self.language!r} is not one of the flow's languages {list(languages)}"
        return None

    def writes(self) -> frozenset[str]:
        return frozenset({"language"})

    async def run(self, call: CallContext) -> StepResult:
        previous, call.language = call.language, self.language
        call.variables["language"] = self.language
        return StepResult("next", detail={"from": previous, "to": self.language})
