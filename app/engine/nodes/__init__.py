"""The explicit registry of node types: one module per type, listed here and nowhere else."""

from __future__ import annotations

from app.engine.nodes.agent import AgentNode
from app.engine.nodes.answer import AnswerNode
from app.engine.nodes.assigner import AssignerNode
from app.engine.nodes.base import Node
from app.engine.nodes.code import CodeNode
from app.engine.nodes.document_extractor import DocumentExtractorNode
from app.engine.nodes.end import EndNode
from app.engine.nodes.http_request import HttpRequestNode
from app.engine.nodes.if_else import IfElseNode
from app.engine.nodes.iteration import IterationNode, IterationStartNode
from app.engine.nodes.knowledge_retrieval import KnowledgeRetrievalNode
from app.engine.nodes.list_operator import ListOperatorNode
from app.engine.nodes.llm import LLMNode
from app.engine.nodes.loop import LoopEndNode, LoopNode, LoopStartNode
from app.engine.nodes.parameter_extractor import ParameterExtractorNode
from app.engine.nodes.question_classifier import QuestionClassifierNode
from app.engine.nodes.sql import SqlNode
from app.engine.nodes.start import StartNode
from app.engine.nodes.template_transform import TemplateTransformNode
from app.engine.nodes.tool import ToolNode
from app.engine.nodes.trigger import TriggerScheduleNode, TriggerWebhookNode
from app.engine.nodes.variable_aggregator import VariableAggregatorNode

NODE_TYPES: dict[str, type[Node]] = {
    cls.type: cls
    for cls in (StartNode, EndNode, TemplateTransformNode, IfElseNode, LLMNode, AnswerNode)
}
# Nodes that run user-directed side effects behind guards (issue 8): sandboxed code, egress HTTP, read-only SQL.
NODE_TYPES.update({cls.type: cls for cls in (CodeNode, HttpRequestNode, SqlNode)})
# Workflow nodes (issue 3): aggregation, classification, extraction, retrieval, lists, variables, containers.
NODE_TYPES.update({cls.type: cls for cls in (
    VariableAggregatorNode, QuestionClassifierNode, ParameterExtractorNode, KnowledgeRetrievalNode, ListOperatorNode,
    AssignerNode, IterationNode, IterationStartNode, LoopNode, LoopStartNode, LoopEndNode, DocumentExtractorNode)})
# Trigger start nodes (issue 13): a cron schedule or a webhook call starts the run.
NODE_TYPES.update({cls.type: cls for cls in (TriggerScheduleNode, TriggerWebhookNode)})
# Before Dify 0.6.x renamed it, the aggregator was exported as `variable-assigner` (today's assigner is `assigner`).
NODE_TYPES["variable-assigner"] = VariableAggregatorNode
# Tools (issue 13): built-in, OpenAPI, MCP, workflow and plugin tools behind the tool port.
NODE_TYPES[ToolNode.type] = ToolNode
# Agents (issue 13): a model with tools through the tool port.
NODE_TYPES[AgentNode.type] = AgentNode

# Nodes that exist only for the editor canvas and never run.
IGNORED_TYPES = frozenset({"custom-note", ""})



def is_quick(node_type: str) -> bool:
    """Whether nodes of this type are `quick` (see Node.quick); unknown types are not."""
    cls = NODE_TYPES.get(node_type)
    return bool(cls and cls.quick)


__all__ = ["IGNORED_TYPES", "NODE_TYPES", "Node", "is_quick"]
