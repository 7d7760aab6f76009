"""Jinja2 rendering of user-supplied templates, always in the sandbox and within size limits."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.errors import WorkflowError

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 400_000


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compile(template: str) -> Any:
    return _environment().from_string(template)


def render_jinja(template: str, values: dict[str, Any]) -> str:
    """Render `template` with `values`. Raises WorkflowError for oversize or failing templates."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise WorkflowError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        output = _compile(template).render(**values)
    except TemplateError as exc:
        raise WorkflowError(f"template error: {exc}") from exc
    except Exception as exc:  # a sandboxed call raised inside user code
        raise WorkflowError(f"template failed: {type(exc).__name__}: {exc}") from exc
    if len(output) > MAX_OUTPUT_CHARS:
        raise WorkflowError(f"template output is longer than {MAX_OUTPUT_CHARS} characters")
    return output
