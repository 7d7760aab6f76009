"""The `maths` built-in evaluates arithmetic safely: no Python names, attributes or huge powers."""

from __future__ import annotations

import pytest

from app.errors import ToolInvokeError
from tests.app.tools.builtin.calls import call


def test_arithmetic_functions_and_caret_power():
    assert call("maths", "eval_expression", expression="(2 + 3) * sqrt(16)").text == "20"
    assert call("maths", "eval_expression", expression="2^10").text == "1024"
    assert call("maths", "eval_expression", expression="round(pi, 3)").text == "3.142"
    assert call("maths", "eval_expression", expression="7 / 2").text == "3.5"


@pytest.mark.parametrize("expression", ["__import__('os').system('id')", "().__class__", "open('/etc/passwd')",
                                        "9 ** 9 ** 9", "1 / 0"])
def test_unsafe_or_impossible_expressions_fail_cleanly(expression):
    with pytest.raises(ToolInvokeError, match="maths"):
        call("maths", "eval_expression", expression=expression)
