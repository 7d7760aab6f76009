"""The `maths` provider: evaluate an arithmetic expression safely (simpleeval: no names but the math
functions below, no attribute access, bounded powers and string sizes; never Python's eval)."""

from __future__ import annotations

import math

from simpleeval import InvalidExpression, SimpleEval

from app.engine.ports import ToolResult
from app.errors import ToolInvokeError
from app.tools.builtin.provider import BuiltinSpec, BuiltinTool, Param, ToolCall

MAX_EXPRESSION_CHARS = 2000
FUNCTIONS = {name: getattr(math, name) for name in (
    "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "log", "log10", "log2", "exp", "floor", "ceil",
    "fabs", "factorial", "degrees", "radians", "hypot", "gcd")}
FUNCTIONS.update({"abs": abs, "round": round, "min": min, "max": max, "pow": pow})


def eval_expression(call: ToolCall) -> ToolResult:
    expression = call.text("expression").strip()
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolInvokeError(f"maths: the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    evaluator = SimpleEval(functions=FUNCTIONS, names={"pi": math.pi, "e": math.e, "tau": math.tau})
    try:
        result = evaluator.eval(expression.replace("^", "**"))
    except (InvalidExpression, ArithmeticError, ValueError, TypeError, SyntaxError) as exc:
        raise ToolInvokeError(f"maths: cannot evaluate {expression[:100]!r}: {exc}") from exc
    if isinstance(result, float) and result.is_integer() and abs(result) < 1e15:
        result = int(result)
    return ToolResult(text=str(result))


MATHS = BuiltinSpec(
    provider_id="maths", label="Maths", aliases=("calculator", "langgenius/maths/maths"),
    description="Evaluate arithmetic expressions.",
    tools=(BuiltinTool("eval_expression", "Evaluate an arithmetic expression such as (2 + 3) * sqrt(16).",
                       (Param("expression", "string", True, "the expression"),), eval_expression),))
