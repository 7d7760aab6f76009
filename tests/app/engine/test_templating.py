"""Hostile Jinja2 templates fail cleanly: no escape from the sandbox, no runaway loops or outputs."""

from __future__ import annotations

import time

import pytest

from app.engine import template_limits
from app.engine.template_limits import MAX_BUILT_CHARS
from app.engine.templating import MAX_OUTPUT_CHARS, MAX_TEMPLATE_CHARS, _compile, render_jinja
from app.errors import WorkflowError


def test_renders_normal_templates():
    assert render_jinja("{% for x in items %}{{ x|upper }} {% endfor %}{{ n * 2 }}", {"items": ["a", "b"], "n": 4}) \
        == "A B 8"
    assert render_jinja("{{ '-' * 3 }}{{ 2 ** 10 }}{{ range(3)|list }}", {}) == "---1024[0, 1, 2]"


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ x.__class__ }}",
    "{{ x.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ x.append(1) }}",  # immutable: no mutation of the caller's values
])
def test_sandbox_escapes_are_refused(template):
    # The sandbox either raises or hands back an undefined (empty) value: never the object itself.
    try:
        assert render_jinja(template, {"x": []}) == ""
    except WorkflowError as exc:
        assert "unsafe" in exc.message or "undefined" in exc.message or "immutable" in exc.message.lower() \
            or "not safely callable" in exc.message


@pytest.mark.parametrize("template", [
    "{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{{ 'x' * 1000000000 }}",
    "{{ [1] * 1000000000 }}",
    "{{ 9 ** 9999999 }}",
    "{{ 'x'|center(1000000000) }}",
    "{% for i in range(400001) %}x{% endfor %}",
    "{{ lipsum(100000) }}",
])
def test_runaway_templates_fail_fast(template):
    started = time.perf_counter()
    with pytest.raises(WorkflowError):
        render_jinja(template, {})
    assert time.perf_counter() - started < 2


def test_output_cap_stops_streaming():
    with pytest.raises(WorkflowError, match="longer than"):
        render_jinja("{% for i in range(1000) %}{{ chunk }}{% endfor %}", {"chunk": "y" * 1000})
    assert len(render_jinja("{{ s }}", {"s": "z" * MAX_OUTPUT_CHARS})) == MAX_OUTPUT_CHARS


def test_template_length_cap():
    with pytest.raises(WorkflowError, match="template is longer"):
        render_jinja("a" * 100_001, {})


@pytest.fixture(autouse=True)
def fresh_compile_cache():
    """Each test compiles its templates itself, so it runs the sandbox's code generator whatever ran before."""
    _compile.cache_clear()


def failure(template: str, values: dict | None = None) -> str:
    with pytest.raises(WorkflowError) as info:
        render_jinja(template, values or {})
    return info.value.message


def test_template_length_cap_is_inclusive():
    assert render_jinja("a" * MAX_TEMPLATE_CHARS, {}) == "a" * MAX_TEMPLATE_CHARS
    assert failure("a" * (MAX_TEMPLATE_CHARS + 1)) == "template is longer than 100000 characters"


def test_output_cap_counts_every_chunk_of_one_render():
    half = "h" * (MAX_OUTPUT_CHARS // 2)
    assert len(render_jinja("{{ a }}{{ b }}", {"a": half, "b": half})) == MAX_OUTPUT_CHARS
    assert failure("{{ a }}{{ b }}", {"a": half, "b": half + "!"}) == \
        "template output is longer than 400000 characters"
    assert failure("{{ s }}", {"s": "z" * (MAX_OUTPUT_CHARS + 1)}) == \
        "template output is longer than 400000 characters"


def test_failures_say_what_kind_they_are():
    assert failure("{{ x") == "template error: unexpected end of template, expected 'end of print statement'."
    assert failure("{{ a.b }}") == "template error: 'a' is undefined"
    assert failure("{{ 1 // z }}", {"z": 0}) == \
        "template failed: ZeroDivisionError: integer division or modulo by zero"
    assert failure("{{ 'x' * n }}", {"n": 1_000_001}) == \
        "template limit: repeating a sequence beyond 1000000 items"


def test_values_reach_the_sandbox_unchanged():
    values = {"row": {"name": "n"}, "a": "p", "n": 12, "b": None}
    assert render_jinja("{{ row.name }}|{{ a ~ n ~ b }}|{{ n + 1 }}|{{ n - 20 }}|{{ n * 2 }}|{{ n % 5 }}", values) \
        == "n|p12None|13|-8|24|2"
    assert render_jinja("{{ '{a}-{b}'.format(a=n, b=a) }}|{{ a.upper() }}|{{ 'x-y'.split('-') }}", values) == \
        "12-p|P|['x', 'y']"
    assert render_jinja("{% macro m(k) %}{{ k * 2 }}{% endmacro %}{{ m(3) }}", {}) == "6"


def test_renders_start_from_a_fresh_budget():
    # Each render may use its whole range budget: the previous render's spending is not carried over.
    template = "{% for i in range(600000) %}{% endfor %}ok"
    assert render_jinja(template, {}) == "ok"
    assert render_jinja(template, {}) == "ok"


def test_printing_charges_the_printed_text_to_the_render_budget():
    """Captured output (a `set` block) escapes the output cap; its printed text is charged as it is built, so a
    block that prints more than MAX_BUILT_CHARS fails there, before the join would refuse it."""
    template = "{% set x %}{{ s }}{% endset %}{{ x|length }}"
    exact = "y" * MAX_BUILT_CHARS
    assert failure(template, {"s": exact}) == "template limit: the template joins a string larger than 1000000"
    assert failure(template, {"s": exact + "y"}) == \
        f"template limit: the template builds more than {MAX_BUILT_CHARS} characters in all"


def test_every_print_checks_the_render_deadline(monkeypatch):
    monkeypatch.setattr(template_limits, "MAX_RENDER_SECONDS", -1.0)
    assert render_jinja("no expressions, no clock", {}) == "no expressions, no clock"
    for template in ("{{ s }}", "{{ n + 1 }}", "{{ s.upper() }}", "{{ row.name }}", "{{ range(1)|list }}"):
        assert failure(template, {"s": "x", "n": 1, "row": {"name": "n"}}) == \
            "template limit: the template took longer than -1s"
