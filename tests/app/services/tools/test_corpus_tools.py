"""Every export in the Dify corpus (found through tests/corpus.py: DIFY_CORPUS_DIR) that has a tool node imports
whatever tools it names: the ones this workspace cannot run are listed as missing, never refused; natively
implemented providers (time, jina, webscraper, echarts...) are not reported missing. Skipped without the corpus."""

from __future__ import annotations

from pathlib import Path

from app.errors import InvalidParam
from tests.corpus import corpus_exports, needs_corpus

NATIVE = {"time", "langgenius/time/time", "jina", "webscraper", "langgenius/echarts/echarts", "wikipedia", "chart",
          "bowenliang123/base64_codec/base64_codec", "duckduckgo", "google_translate",
          "arrenxxxxx/mcp_config_during_use/mcp_config"}
# Native, but the workspace must configure them first: reported only as `credentials_missing`.
NEEDS_CREDENTIALS = {"junjiem/mcp_sse/mcp_sse"}


def tool_exports() -> list[Path]:
    return corpus_exports("type: tool")


@needs_corpus()
def test_tool_exports_import_and_report_missing_tools(container, capsys):
    workspace = container.accounts.default_workspace_id()
    imported, reported, refused = 0, 0, []
    for path in tool_exports():
        try:
            app = container.apps.import_dsl(workspace, path.read_text(encoding="utf-8"))
        except InvalidParam as exc:
            if "app mode" in exc.message or "chat" in exc.message:
                continue  # agent-chat/chat/completion modes are another part of the work
            refused.append((path.name, exc.message))
            continue
        imported += 1
        reported += len(app.missing_tools)
        for missing in app.missing_tools:
            assert missing["reason"] in ("not_installed", "credentials_missing")
            if missing["provider_id"] in NEEDS_CREDENTIALS:
                assert missing["reason"] == "credentials_missing", (path.name, missing)
            if missing["provider_id"] in NATIVE:
                # Only a tool the native provider lacks (e.g. ddgo_translate) may be reported.
                assert missing["reason"] == "not_installed" and missing["tool_name"] not in (
                    "current_time", "jina_reader", "webscraper", "bar_chart", "line_chart", "pie_chart",
                    "wikipedia_search", "ddgo_search", "base64_image_encoder", "mcp_list_tools",
                    "mcp_call_tool"), (path.name, missing)
    with capsys.disabled():
        print(f"\ncorpus tool exports: {imported} imported ({reported} missing tools reported), "
              f"{len(refused)} refused for other reasons")
    assert imported >= 40
    assert all("tool" not in message.lower() and "unsupported" not in message for _, message in refused), refused
