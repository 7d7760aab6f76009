"""`answer`: a chatflow's reply. Renders its `answer` template (`{{#node.var#}}` references) into the node's
`answer` output. Streaming is not done here: `app.engine.answer_stream` forwards the text of LLM nodes the
template refers to while they generate, and the rest when this node finishes, using `segments()`.

Must not import anything outside `app.engine` and `app.errors`.
"""

from __future__ import annotations

from pydantic import Field

from app.engine.nodes.base import Node, NodeContext, NodeData, NodeResult
from app.engine.variables import REFERENCE, references

Segment = str | tuple[str, ...]  # literal text, or a variable selector


class AnswerData(NodeData):
    answer: str = ""
    variables: list[dict[str, object]] = Field(default_factory=list)  # legacy exports; the template is the truth


def split_template(template: str) -> list[Segment]:
    """The template as literal texts and selectors, in order; empty literals are dropped."""
    segments: list[Segment] = []
    position = 0
    for match in REFERENCE.finditer(template):
        if match.start() > position:
            segments.append(template[position:match.start()])
        segments.append(tuple(match.group(1).split(".")))
        position = match.end()
    if position < len(template):
        segments.append(template[position:])
    return segments


class AnswerNode(Node):
    type = "answer"
    quick = True
    data_model = AnswerData
    data: AnswerData

    def selectors(self) -> list[list[str]]:
        return references(self.data.answer)

    def segments(self) -> list[Segment]:
        return split_template(self.data.answer)

    def run(self, ctx: NodeContext) -> NodeResult:
        text = ctx.pool.render(self.data.answer)
        return NodeResult(inputs={}, outputs={"answer": text, "files": []})
