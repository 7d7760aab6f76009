"""Size checks for every value a user template can make big, applied before the value is built.

One template must not hold a worker's GIL for a minute or allocate gigabytes: integers are capped in bits in every
arithmetic operator (so `((3**1000)**1000)**80` stops at the second step), and every operation that produces a
string or a list (`*`, `+`, `~`, `%` formatting, the `replace`, `format`, `join`, `indent`, `center`, `sum`
filters and the `replace`, `ljust`, `rjust`, `center`, `zfill`, `expandtabs`, `join`, `format`, `translate`
methods) has its result's size estimated from its arguments and is refused past the cap. A result may always be as
large as its input: only growth is refused. Raises TemplateLimitExceeded; imports nothing outside the engine.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from functools import update_wrapper
from typing import Any

from jinja2.filters import make_attrgetter

MAX_INT_BITS = 65_536  # about 20,000 decimal digits: any arithmetic on such numbers takes microseconds
MAX_VALUE_CHARS = 1_000_000  # the largest string or list a template may build (the output cap is lower)
# Characters one render may build in all (every checked result, every output chunk, captured or not): what a
# template can hold in memory at once is below this, whatever it loops over.
MAX_BUILT_CHARS = 20_000_000
MAX_RANGE_ITEMS = 1_000_000  # summed over every range() of one render
MAX_RENDER_SECONDS = 5.0  # checked at every operator, call, attribute, output and range()
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
_NUMBER = re.compile(r"\d+")


class TemplateLimitExceeded(Exception):
    pass


@dataclass
class RenderBudget:
    """What one render may still spend; `start_render` installs a fresh one for the current context."""

    range_items: int = MAX_RANGE_ITEMS
    chars: int = MAX_BUILT_CHARS
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_RENDER_SECONDS)


_budget: ContextVar[RenderBudget | None] = ContextVar("jinja_render_budget", default=None)


def start_render() -> Token[RenderBudget | None]:
    return _budget.set(RenderBudget())


def end_render(token: Token[RenderBudget | None]) -> None:
    _budget.reset(token)


def tick() -> None:
    """Refuse to go on past the render's deadline."""
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateLimitExceeded(f"the template took longer than {MAX_RENDER_SECONDS:g}s")


def charge(chars: int) -> None:
    """Count `chars` built against the render's budget."""
    budget = _budget.get()
    if budget is not None:
        budget.chars -= chars
        if budget.chars < 0:
            raise TemplateLimitExceeded(f"the template builds more than {MAX_BUILT_CHARS} characters in all")


def take_range(items: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.range_items -= items
        if budget.range_items < 0:
            raise TemplateLimitExceeded(f"template loops exceed {MAX_RANGE_ITEMS} iterations")
    tick()


def _refuse_size(size: int, base: int = 0, what: str = "value") -> None:
    if size > max(MAX_VALUE_CHARS, base):
        raise TemplateLimitExceeded(f"the template builds a {what} larger than {MAX_VALUE_CHARS}")
    charge(size)


def _bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) and not isinstance(value, bool) else 0


def check_int_result(operator_: str, left: Any, right: Any) -> None:
    """Refuse integer arithmetic whose result would pass MAX_INT_BITS (estimated from the operands' sizes)."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if operator_ == "**":
        if right > 0 and abs(left) > 1 and _bits(left) * right > MAX_INT_BITS:
            raise TemplateLimitExceeded(f"{left.bit_length()}-bit number to the power {right} is too large")
    elif operator_ == "*":
        if _bits(left) + _bits(right) > MAX_INT_BITS:
            raise TemplateLimitExceeded(f"integer product larger than {MAX_INT_BITS} bits")
    elif max(_bits(left), _bits(right)) > MAX_INT_BITS:
        raise TemplateLimitExceeded(f"integer larger than {MAX_INT_BITS} bits")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else len(str(value))


def check_sequence_result(operator_: str, left: Any, right: Any) -> None:
    """`*` repeating and `+` joining strings and lists: refuse a result past the cap."""
    if operator_ == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_VALUE_CHARS:
                raise TemplateLimitExceeded(f"repeating a sequence beyond {MAX_VALUE_CHARS} items")
    elif operator_ == "+" and isinstance(left, str) and isinstance(right, str):
        _refuse_size(len(left) + len(right), what="string")
    elif operator_ == "+" and isinstance(left, list | tuple) and isinstance(right, list | tuple):
        if len(left) + len(right) > MAX_VALUE_CHARS:
            raise TemplateLimitExceeded(f"a list longer than {MAX_VALUE_CHARS} items")
        # Growing a list one item at a time charges each new item once (the smaller side is the new part).
        charge(len(left) + len(right) + sum(_length(v) for v in min(left, right, key=len)))
    elif operator_ == "%" and isinstance(left, str):
        check_percent_format(left, right)


def check_percent_format(fmt: str, args: Any) -> None:
    """`fmt % args`: no width or precision past the cap (nor `*`, a width taken from the arguments), and the
    arguments, each printed once per conversion, within the cap."""
    conversions = 0
    for match in _PERCENT_SPEC.finditer(fmt):
        conversions += 1
        for part in match.groups():
            if part == "*":
                raise TemplateLimitExceeded("a `*` width in a % format is not allowed")
            if part and int(part) > MAX_VALUE_CHARS:
                raise TemplateLimitExceeded(f"a % format width of {part} is larger than {MAX_VALUE_CHARS}")
    values = list(args.values()) if isinstance(args, dict) else list(args) if isinstance(args, tuple) else [args]
    widest = max((_length(v) for v in values), default=0)
    _refuse_size(len(fmt) + conversions * widest, what="formatted string")


def check_brace_format(fmt: str, args: Iterable[Any]) -> None:
    """`fmt.format(*args)`: no nested (argument-given) width, no width past the cap, the output within the cap."""
    fields = 0
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        fields += 1
        if spec and "{" in spec:
            raise TemplateLimitExceeded("a nested width in a format string is not allowed")
        if any(int(n) > MAX_VALUE_CHARS for n in _NUMBER.findall(spec or "")):
            raise TemplateLimitExceeded(f"a format width larger than {MAX_VALUE_CHARS}")
    widest = max((_length(v) for v in args), default=0)
    _refuse_size(len(fmt) + fields * widest, what="formatted string")


def _estimate_replace(text: str, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _joined(separator: Any, items: list[Any]) -> int:
    return sum(_length(item) for item in items) + _length(separator) * max(0, len(items) - 1)


def check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a `str` method call whose result would pass the cap; returns the arguments to call it with
    (`join` gets its iterable as a list, already measured)."""
    if name == "replace" and args:
        _refuse_size(_estimate_replace(text, *args[:3]), len(text), "string")
    elif name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        _refuse_size(args[0], len(text), "string")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else kwargs.get("tabsize", 8)
        _refuse_size(len(text) + text.count("\t") * max(0, int(size)), len(text), "string")
    elif name == "join" and args:
        items = list(args[0])
        _refuse_size(_joined(text, items), what="string")
        return (items,)
    elif name in ("format", "format_map"):
        values = list(args) + list(kwargs.values())
        if name == "format_map" and args and isinstance(args[0], dict):
            values = list(args[0].values())
        check_brace_format(text, values)
    elif name == "translate" and args and isinstance(args[0], dict):
        widest = max((_length(v) for v in args[0].values() if v is not None), default=1)
        _refuse_size(len(text) * max(1, widest), len(text), "string")
    return args


def _checked(estimate: Callable[..., None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            estimate(*args, **kwargs)
            return original(*args, **kwargs)

        return update_wrapper(wrapper, original)  # keeps Jinja's pass-context marker

    return decorate


def _replace_filter(*args: Any, **kwargs: Any) -> None:
    text, rest = (args[1], args[2:]) if not isinstance(args[0], str) else (args[0], args[1:])
    if isinstance(text, str) and len(rest) >= 2:
        _refuse_size(_estimate_replace(text, *rest[:3]), len(text), "string")


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        check_percent_format(value, kwargs or tuple(args))


def _width_filter(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> None:
    text = str(value)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _refuse_size(per_line, what="string")
    _refuse_size(len(text) + (text.count("\n") + 1) * max(0, per_line), len(text), "string")


def _sum_filter(*args: Any, **kwargs: Any) -> None:
    start = kwargs.get("start", args[3] if len(args) > 3 else 0)
    if not isinstance(start, int | float):
        raise TemplateLimitExceeded("sum only adds numbers in templates")


def _join_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
        if not isinstance(value, str):
            value = list(value)  # measured once, joined once: an iterator cannot be read twice
            if attribute is not None:
                value, attribute = list(map(make_attrgetter(eval_ctx.environment, attribute), value)), None
            _refuse_size(_joined(d, value), what="string")
        return original(eval_ctx, value, d, attribute)

    return update_wrapper(wrapper, original)


def capped_filters() -> dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """Filter name -> a decorator that checks the filter's arguments before it runs."""
    return {"replace": _checked(_replace_filter), "format": _checked(_format_filter), "join": _join_filter,
            "indent": _checked(_width_filter), "center": _checked(_width_filter), "sum": _checked(_sum_filter)}
