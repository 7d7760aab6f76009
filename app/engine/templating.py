"""Jinja2 rendering of user-supplied templates, always in the sandbox and within size and work limits.

The immutable sandbox refuses unsafe attributes (`__class__`, `__subclasses__`, `mro`, `func_globals`...) and
mutation of values. On top of it: the template's length is capped; output is streamed and the render stops as
soon as it passes the output cap; `range()` draws from one iteration budget per render (so nested loops cannot
run for hours without printing); every arithmetic operator refuses integers past a size, and every operation that
builds a string or list refuses one past a size (`template_limits`), so no single step holds the GIL or memory for
long; and a render deadline is checked at every operator, call, attribute and `range`. `lipsum` is gone.
Failures raise WorkflowError.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.engine.template_limits import (
    MAX_VALUE_CHARS,
    TemplateLimitExceeded,
    capped_filters,
    charge,
    check_int_result,
    check_sequence_result,
    check_str_method,
    end_render,
    start_render,
    take_range,
    tick,
)
from app.errors import WorkflowError

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 400_000
ARITHMETIC = frozenset({"+", "-", "*", "/", "//", "%", "**"})


def _budgeted_range(*args: int) -> range:
    items = range(*args)
    take_range(len(items))
    return items


def _charged(value: Any) -> Any:
    tick()
    charge(len(value) if isinstance(value, str) else 16)
    return value


class _CheckedConcat(CodeGenerator):
    """Compiles `a ~ b` to a call that measures the parts before joining them (Jinja joins them inline), and
    charges every printed value to the render's budget, also where output is captured (`set` blocks, macros,
    filter blocks), which the output cap does not see."""

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        self.write("environment.charged(")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_post(node, frame, finalize)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = ARITHMETIC
    code_generator_class = _CheckedConcat

    charged = staticmethod(_charged)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        tick()
        check_int_result(operator_, left, right)
        check_sequence_result(operator_, left, right)
        return super().call_binop(context, operator_, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        tick()
        # Bound str methods, and str.format as the sandbox wraps it (the wrapper keeps the method in __wrapped__).
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            args = check_str_method(owner, getattr(method, "__name__", ""), args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        return super().getattr(obj, attribute)

    def concat(self, parts: Iterable[Any]) -> str:  # type: ignore[override]
        """`~`, and every captured block's output: measured (and charged) before it is joined."""
        texts = [part if isinstance(part, str) else str(part) for part in parts]
        size = sum(len(t) for t in texts)
        if size > MAX_VALUE_CHARS:
            raise TemplateLimitExceeded(f"the template joins a string larger than {MAX_VALUE_CHARS}")
        charge(size)
        return "".join(texts)


@lru_cache(maxsize=1)
def _environment() -> LimitedEnvironment:
    env = LimitedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _budgeted_range
    env.globals.pop("lipsum", None)
    for name, capped in capped_filters().items():
        env.filters[name] = capped(env.filters[name])
    return env


@lru_cache(maxsize=512)
def _compile(template: str) -> Any:
    return _environment().from_string(template)


def render_jinja(template: str, values: dict[str, Any]) -> str:
    """Render `template` with `values`. Raises WorkflowError for oversize, runaway or failing templates."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise WorkflowError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    token = start_render()
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
    except TemplateLimitExceeded as exc:
        raise WorkflowError(f"template limit: {exc}") from exc
    except TemplateError as exc:
        raise WorkflowError(f"template error: {exc}") from exc
    except Exception as exc:  # a sandboxed call raised inside user code
        raise WorkflowError(f"template failed: {type(exc).__name__}: {exc}") from exc
    finally:
        end_render(token)
    return "".join(parts)
