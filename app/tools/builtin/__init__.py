"""The built-in providers Trellis implements natively, listed here and nowhere else."""

from __future__ import annotations

from app.tools.builtin.arxiv import ARXIV
from app.tools.builtin.base64_codec import BASE64_CODEC
from app.tools.builtin.duckduckgo import DUCKDUCKGO
from app.tools.builtin.echarts import CHART, ECHARTS
from app.tools.builtin.google_translate import GOOGLE_TRANSLATE
from app.tools.builtin.jina import JINA
from app.tools.builtin.json_process import JSON_PROCESS
from app.tools.builtin.maths import MATHS
from app.tools.builtin.mcp_bridge import MCP_CONFIG, MCP_SSE
from app.tools.builtin.md_exporter import MD_EXPORTER
from app.tools.builtin.provider import BuiltinProvider, BuiltinSpec
from app.tools.builtin.searxng import SEARXNG
from app.tools.builtin.tavily import TAVILY
from app.tools.builtin.time import TIME
from app.tools.builtin.webscraper import WEBSCRAPER
from app.tools.builtin.wecom import WECOM
from app.tools.builtin.wikipedia import WIKIPEDIA

BUILTINS: dict[str, BuiltinSpec] = {spec.provider_id: spec for spec in (
    TIME, JSON_PROCESS, MATHS, BASE64_CODEC, ECHARTS, CHART, MD_EXPORTER, WEBSCRAPER, JINA, TAVILY, WIKIPEDIA,
    SEARXNG, ARXIV, WECOM, DUCKDUCKGO, GOOGLE_TRANSLATE, MCP_SSE, MCP_CONFIG)}
# Dify plugin ids (`org/plugin/provider`) of the providers above.
ALIASES: dict[str, str] = {alias: spec.provider_id for spec in BUILTINS.values() for alias in spec.aliases}

__all__ = ["ALIASES", "BUILTINS", "BuiltinProvider", "BuiltinSpec"]
