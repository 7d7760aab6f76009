"""The explicit registry of node types: one module per type, listed here and nowhere else."""

from __future__ import annotations

from app.engine.nodes.base import Node
from app.engine.nodes.end import EndNode
from app.engine.nodes.if_else import IfElseNode
from app.engine.nodes.llm import LLMNode
from app.engine.nodes.start import StartNode
from app.engine.nodes.template_transform import TemplateTransformNode

NODE_TYPES: dict[str, type[Node]] = {
    cls.type: cls
    for cls in (StartNode, EndNode, TemplateTransformNode, IfElseNode, LLMNode)
}

# Nodes that exist only for the editor canvas and never run.
IGNORED_TYPES = frozenset({"custom-note", ""})

__all__ = ["IGNORED_TYPES", "NODE_TYPES", "Node"]
