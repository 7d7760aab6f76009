"""Jinja2 rendering of user-supplied templates, always in the sandbox and within size and work limits.

The immutable sandbox refuses unsafe attributes (`__class__`, `__subclasses__`, `mro`, `func_globals`...) and
mutation of values. On top of it: the template's length is capped; output is streamed and the render stops as
soon as it passes the output cap; `range()` draws from one iteration budget per render (so nested loops cannot
run for hours without printing); `*` and `**` refuse results that would be huge; width-taking filters are capped;
`lipsum` is gone. Failures raise WorkflowError.
"""

from __future__ import annotations

import operator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.errors import WorkflowError

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 400_000
MAX_RANGE_ITEMS = 1_000_000  # summed over every range() of one render
MAX_EXPONENT = 1000

_budget: ContextVar[list[int]] = ContextVar("jinja_range_budget")


class _LimitExceeded(Exception):
    pass


def _budgeted_range(*args: int) -> range:
    items = range(*args)
    left = _budget.get([MAX_RANGE_ITEMS])
    left[0] -= len(items)
    if left[0] < 0:
        raise _LimitExceeded(f"template loops exceed {MAX_RANGE_ITEMS} iterations")
    return items


def _capped_width(name: str, original: Any) -> Any:
    def wrapper(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
        if isinstance(width, int) and width > MAX_OUTPUT_CHARS:
            raise _LimitExceeded(f"{name} width {width} is larger than {MAX_OUTPUT_CHARS}")
        return original(value, width, *args, **kwargs)

    return wrapper


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise _LimitExceeded(f"exponent {right} is larger than {MAX_EXPONENT}")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT_CHARS:
                raise _LimitExceeded(f"repeating a sequence beyond {MAX_OUTPUT_CHARS} items")
        return operator.mul(left, right)


@lru_cache(maxsize=1)
def _environment() -> LimitedEnvironment:
    env = LimitedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _budgeted_range
    env.globals.pop("lipsum", None)
    for name in ("center", "indent", "wordwrap", "truncate"):
        env.filters[name] = _capped_width(name, env.filters[name])
    return env


@lru_cache(maxsize=512)
def _compile(template: str) -> Any:
    return _environment().from_string(template)


def render_jinja(template: str, values: dict[str, Any]) -> str:
    """Render `template` with `values`. Raises WorkflowError for oversize, runaway or failing templates."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise WorkflowError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    token = _budget.set([MAX_RANGE_ITEMS])
    parts: list[str] = []
    size = 0
    try:
        for chunk in _compile(template).generate(**values):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise WorkflowError(f"template output is longer than {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
    except WorkflowError:
        raise
    except _LimitExceeded as exc:
        raise WorkflowError(f"template limit: {exc}") from exc
    except TemplateError as exc:
        raise WorkflowError(f"template error: {exc}") from exc
    except Exception as exc:  # a sandboxed call raised inside user code
        raise WorkflowError(f"template failed: {type(exc).__name__}: {exc}") from exc
    finally:
        _budget.reset(token)
    return "".join(parts)
