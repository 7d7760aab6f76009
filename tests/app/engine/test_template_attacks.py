"""Issue 14, attacks 3 and 4: a template that froze a worker (integer blow-up holding the GIL for a minute) and
templates that built hundreds of millions of characters below the printed-output cap. Each must fail the node
fast with WorkflowError, in well under a second, and without allocating the result."""

from __future__ import annotations

import resource
import time

import pytest

from app.engine.templating import _compile, render_jinja
from app.errors import WorkflowError

INTEGER_BOMBS = [
    "{{ (((3**1000)**1000)**80) % 7 }}",  # the probe's: the exponent alone is small at every step
    "{{ ((3**1000)**1000) }}",
    "{% set ns = namespace(x=3**1000) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x % 7 }}",
    "{{ (7**5000) * (7**5000) * (7**5000) * (7**5000) * (7**5000) * (7**5000) % 3 }}",
    "{{ ('9' * 4000)|int ** 100 }}",
]

MEMORY_BOMBS = [
    "{{ ('x'*5000)|replace('x','y'*100000)|length }}",  # the probe's: 500,000,000 characters
    "{{ '%0500000000d'|format(1)|length }}",
    "{{ '%0500000000d' % 1 }}",
    "{{ '%*d' % (500000000, 1) }}",
    "{{ 'a'.ljust(500000000)|length }}",
    "{{ 'a'.rjust(500000000)|length }}",
    "{{ 'a'.center(500000000)|length }}",
    "{{ 'a'.zfill(500000000)|length }}",
    "{{ ('\t' * 100000).expandtabs(100000)|length }}",
    "{{ ('x'*5000).replace('x', 'y'*100000)|length }}",
    "{{ '{:>500000000}'.format(1)|length }}",
    "{{ '{:>{}}'.format(1, 500000000)|length }}",
    "{{ ('{0}' * 30000).format('y' * 30000)|length }}",
    "{{ (['y' * 400000] * 400000)|join|length }}",
    "{{ ('y' * 400000).join(['a'] * 400000)|length }}",
    "{{ ('x\n' * 400000)|indent(10)|length }}",
    "{{ ('x\n' * 200000)|indent(1000)|length }}",
    "{{ 'x'|center(500000000)|length }}",
    "{{ ('x' * 100000).translate({120: 'y' * 100000})|length }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
    "{% set big %}{% for i in range(1000000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}{{ big|length }}",
    "{% macro m() %}{% for i in range(1000000) %}yyyyyyyyyyyyyyyyyyyyyy{% endfor %}{% endmacro %}{{ m()|length }}",
    "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [('y' * 900000) ~ i] %}"
    "{% endfor %}{{ ns.l|length }}",
    "{{ ([[1] * 100000] * 100000)|sum(start=[])|length }}",
]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("template", INTEGER_BOMBS)
def test_integer_blow_up_fails_fast(template):
    started = time.perf_counter()
    with pytest.raises(WorkflowError, match="template limit"):
        render_jinja(template, {})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("template", MEMORY_BOMBS)
def test_string_builders_are_capped(template):
    before = _peak_rss_mb()
    started = time.perf_counter()
    with pytest.raises(WorkflowError, match="template limit"):
        render_jinja(template, {})
    assert time.perf_counter() - started < 5.5
    assert _peak_rss_mb() - before < 300  # the result was refused before it was built


def test_render_deadline_stops_a_slow_template(monkeypatch):
    from app.engine import template_limits

    monkeypatch.setattr(template_limits, "MAX_RENDER_SECONDS", 0.2)
    started = time.perf_counter()
    with pytest.raises(WorkflowError, match="longer than"):
        render_jinja("{% for i in range(1000000) %}{{ (i ** 50) % 7 }}{% endfor %}", {})
    assert time.perf_counter() - started < 1.0


def test_ordinary_templates_still_render():
    assert render_jinja("{{ 2 ** 64 }} {{ (3 ** 100) % 7 }} {{ 10 // 3 }} {{ 7 / 2 }} {{ 5 - 8 }}", {}) == \
        f"{2 ** 64} {(3 ** 100) % 7} 3 3.5 -3"
    assert render_jinja("{{ 'a-b'|replace('-', '+') }} {{ '%05d'|format(42) }} {{ '%s=%s' % ('k', 'v') }}", {}) == \
        "a+b 00042 k=v"
    assert render_jinja("{{ 'x'.ljust(3, '.') }}|{{ 'ab'.center(6) }}|{{ '{:>4}'.format(7) }}", {}) == \
        "x..|  ab  |   7"
    assert render_jinja("{{ items|join(', ') }} {{ ', '.join(items) }} {{ items|map('upper')|join }}",
                        {"items": ["a", "b"]}) == "a, b a, b AB"
    assert render_jinja("{{ rows|join(',', attribute='n') }} {{ [1, 2, 3]|sum }} {{ 'a' ~ 1 ~ 'b' }}",
                        {"rows": [{"n": 1}, {"n": 2}]}) == "1,2 6 a1b"
    assert render_jinja("{% set x %}{{ 'y' * 3 }}{% endset %}{{ x }} {{ 'l1\nl2'|indent(2) }}", {}) == "yyy l1\n  l2"
    long_input = "z" * 2_000_000  # an input larger than the cap may still be transformed without growing
    assert render_jinja("{{ s|replace('z', 'q')|length }} {{ s.replace('z', 'w')|length }}", {"s": long_input}) == \
        "2000000 2000000"


def test_a_poison_template_fails_its_run_fast_and_others_still_run(client, app_with_key):
    """Through the Service API: the probe's template fails its own run within a second, with the reason."""
    from tests.conftest import SAMPLES

    hello = (SAMPLES / "hello.yml").read_text()
    poison = hello.replace("template: 'Hello, {{ name }}!'", "template: '{{ (((3**1000)**1000)**80) % 7 }}'", 1)
    assert poison != hello
    bad, good = app_with_key(poison), app_with_key(hello)
    body = {"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "u"}
    started = time.perf_counter()
    failed = client.post("/v1/workflows/run", headers=bad, json=body).get_json()["data"]
    assert time.perf_counter() - started < 2
    assert failed["status"] == "failed" and "too large" in failed["error"]
    assert client.post("/v1/workflows/run", headers=good, json=body).get_json()["data"]["status"] == "succeeded"


@pytest.fixture(autouse=True)
def fresh_compile_cache():
    """Each test compiles its templates itself, so it runs the sandbox's code generator whatever ran before."""
    _compile.cache_clear()


CAP = 1_000_000  # template_limits.MAX_VALUE_CHARS
TOO_LARGE = "template limit: the template builds a string larger than 1000000"


def limit(template: str, **values) -> str:
    with pytest.raises(WorkflowError) as info:
        render_jinja(template, values)
    return info.value.message


@pytest.mark.parametrize("template", [
    "{{ ('x' * n)|length }}", "{{ (n * 'x')|length }}", "{{ ([0] * n)|length }}", "{{ (n * [0])|length }}"])
def test_repeating_is_capped_at_the_value_cap_in_either_operand_order(template):
    assert render_jinja(template, {"n": CAP}) == str(CAP)
    assert limit(template, n=CAP + 1) == "template limit: repeating a sequence beyond 1000000 items"


def test_integer_powers_are_capped_by_result_bits():
    assert render_jinja("{{ (2 ** e) % 7 }}", {"e": 32_768}) == str(2 ** 32_768 % 7)  # 2 bits x 32,768
    assert limit("{{ (2 ** e) % 7 }}", e=32_769) == "template limit: 2-bit number to the power 32769 is too large"


def test_integer_products_are_capped_by_the_sum_of_their_bits():
    a, b = 2 ** 32_768, 2 ** 32_766  # 32,769 and 32,767 bits
    assert render_jinja("{{ (a * b) % 7 }}", {"a": a, "b": b}) == str(a * b % 7)
    assert limit("{{ (a * b) % 7 }}", a=a, b=b * 2) == "template limit: integer product larger than 65536 bits"
    assert limit("{{ (b * a) % 7 }}", a=a, b=b * 2) == "template limit: integer product larger than 65536 bits"


def test_other_integer_operators_refuse_operands_past_the_cap():
    huge = 2 ** 65_536  # 65,537 bits
    assert render_jinja("{{ (x + 1) % 7 }}", {"x": huge // 2}) == str((huge // 2 + 1) % 7)
    assert limit("{{ (x + 1) % 7 }}", x=huge) == "template limit: integer larger than 65536 bits"
    assert limit("{{ (1 - x) % 7 }}", x=huge) == "template limit: integer larger than 65536 bits"


def test_adding_strings_is_capped_at_the_value_cap():
    half = "y" * (CAP // 2)
    assert render_jinja("{{ (a + b)|length }}", {"a": half, "b": half}) == str(CAP)
    assert limit("{{ (a + b)|length }}", a=half, b=half + "y") == TOO_LARGE


def test_joining_with_tilde_is_capped_and_counts_non_strings_as_printed():
    assert render_jinja("{{ (a ~ n)|length }}", {"a": "y" * (CAP - 2), "n": 12}) == str(CAP)
    assert limit("{{ (a ~ n)|length }}", a="y" * (CAP - 1), n=12) == \
        "template limit: the template joins a string larger than 1000000"
    assert render_jinja("{{ a ~ n ~ b ~ none }}", {"a": "<", "n": 1.5, "b": ">"}) == "<1.5>None"


def test_captured_output_is_capped_when_it_is_joined():
    template = "{% set x %}{{ a }}{{ b }}{% endset %}{{ x|length }}"
    assert render_jinja(template, {"a": "y" * (CAP - 1), "b": "z"}) == str(CAP)
    assert limit(template, a="y" * CAP, b="z") == "template limit: the template joins a string larger than 1000000"


def test_str_methods_are_measured_before_they_run():
    assert render_jinja("{{ s.ljust(n)|length }}", {"s": "a", "n": CAP}) == str(CAP)
    assert limit("{{ s.ljust(n)|length }}", s="a", n=CAP + 1) == TOO_LARGE
    # str.format reaches the environment wrapped by the sandbox; the check looks through the wrapper.
    assert render_jinja("{{ '{:>1000000}'.format(1)|length }}", {}) == str(CAP)
    assert limit("{{ '{:>1000001}'.format(1)|length }}") == "template limit: a format width larger than 1000000"
    assert limit("{{ '{a}{a}'.format(a=s)|length }}", s="y" * (CAP // 2)) == \
        "template limit: the template builds a formatted string larger than 1000000"
