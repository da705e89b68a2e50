"""Go's funcs.go: the builtins (`and or not eq ne lt le gt ge index len slice print
printf println html js urlquery`, with fmt.Sprintf's verbs) and Docker's template
functions (`json join split title lower upper pad truncate`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from layerlab.presentation.gotemplate.values import (
    MISSING,
    CallError,
    Context,
    Marshaled,
    NilMap,
    NilSlice,
    go_float,
    go_type,
    go_value,
    struct_like,
)


def truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None or isinstance(item, dict):
            if not isinstance(key, str):
                raise CallError(f"value has type {go_type(key)}; should be string")
            entries = item or {}
            if key in entries:
                item = entries[key]
            else:  # Go gives the element type's zero value: "" for Labels-like string maps
                item = "" if all(isinstance(v, str) for v in entries.values()) else None
        elif isinstance(item, list):
            if not isinstance(key, int) or isinstance(key, bool):
                raise CallError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item):
                raise CallError(f"index out of range: {key}")
            item = item[key]
        else:
            raise CallError(f"can't index item of type {go_type(item)}")
    return item


def _join(items: Any, separator: Any) -> str:
    if not isinstance(items, list | None):
        raise CallError(f"wrong type for value; expected []string; got {go_type(items)}")
    return _string(separator).join(go_value(item) for item in items or ())


def _length(item: Any) -> int:
    if item is None:
        raise CallError("len of nil pointer")
    if not isinstance(item, str | list | dict):
        raise CallError(f"len of type {go_type(item)}")
    return len(item if not isinstance(item, str) else item.encode())  # Go counts bytes


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise CallError(f"wrong type for value; expected string; got {go_type(value)}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CallError(f"wrong type for value; expected int; got {go_type(value)}")
    return value


def _println(*args: Any) -> str:
    return " ".join(go_value(arg) for arg in args) + "\n"


def _print(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_value(arg)
    return out


def _title(value: Any) -> str:
    """Go's strings.Title: upper-case each letter that follows a separator."""
    out, previous = [], " "
    for ch in _string(value):
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid" if value is None else "other"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise CallError("missing argument for comparison")
    for other in others:
        k1, k2 = _kind(first), _kind(other)
        if k1 != k2:
            if k1 == "invalid" or k2 == "invalid":
                continue  # nil equals nothing but does not fail
            raise CallError("incompatible types for comparison")
        if k1 == "other":
            raise CallError("invalid type for comparison")
        if first == other:
            return True
    return False


def _less(first: Any, second: Any) -> bool:
    k1, k2 = _kind(first), _kind(second)
    if k1 in ("bool", "other", "invalid") or k2 in ("bool", "other", "invalid"):
        if k1 != k2 and "invalid" not in (k1, k2) and "other" not in (k1, k2):
            raise CallError("incompatible types for comparison")
        raise CallError("invalid type for comparison")
    if k1 != k2:
        raise CallError("incompatible types for comparison")
    return bool(first < second)


def _printf(fmt: Any, *args: Any) -> str:
    return go_sprintf(_string(fmt), args)


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: tuple[Any, ...]) -> str:
    """Go's fmt.Sprintf for the verbs templates use: v s q d x X o b c e E f F g G t T %."""
    out, used, pos = [], 0, 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_format_one(arg, flags, width, precision, verb))
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{_go_type_name(a)}={go_value(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _go_type_name(value: Any) -> str:
    return {"nil": "<nil>"}.get(go_type(value), go_type(value))


def _format_one(arg: Any, flags: str, width: str | None, precision: str | None, verb: str) -> str:
    kind = _kind(arg)
    bad = False
    if verb == "v":
        text = go_value(arg)
    elif verb == "T":
        text = _go_type_name(arg)
    elif verb == "s":
        if kind == "string":
            text = arg
        elif isinstance(arg, list | tuple):
            text = "[" + " ".join(_format_one(a, "", None, None, "s") for a in arg) + "]"
        else:
            bad = True
    elif verb == "q":
        if kind == "string":
            text = json.dumps(arg, ensure_ascii=False)
        elif isinstance(arg, list | tuple):
            text = "[" + " ".join(_format_one(a, "", None, None, "q") for a in arg) + "]"
        else:
            bad = True
    elif verb == "t":
        bad = kind != "bool"
        text = "true" if arg is True else "false"
    elif verb in "dxXobc" and kind == "int":
        spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}.get(verb)
        text = chr(arg) if verb == "c" else format(arg, spec or "d")
        if verb == "d" and "+" in flags and arg >= 0:
            text = "+" + text
    elif verb in "xX" and kind == "string":
        text = arg.encode().hex()
        text = text.upper() if verb == "X" else text
    elif verb in "eEfFgG" and kind in ("float", "int"):
        value = float(arg)
        if verb in "gG" and precision is None:
            text = go_float(value, json_style=False)
        else:
            digits = 6 if precision in (None, "") else int(precision)
            text = format(value, f".{digits}{verb}")
    else:
        bad = True
    if bad:
        return f"%!{verb}({_go_type_name(arg)}={go_value(arg)})"
    if precision not in (None, "") and verb in "sq" and kind == "string":
        text = text[: int(precision)]
    if width and width != "*":
        size = int(width)
        if "-" in flags:
            text = text.ljust(size)
        elif "0" in flags and verb in "dxXobeEfFgG":
            sign = text[0] if text[:1] in "+-" else ""
            text = sign + text[len(sign) :].rjust(size - len(sign), "0")
        else:
            text = text.rjust(size)
    return text


def _pad(value: Any, before: Any, after: Any) -> str:
    return " " * _int(before) + _string(value) + " " * _int(after)


def _html(*args: Any) -> str:
    """Go's `html`: HTMLEscapeString of the arguments printed as `print` does."""
    text = _print(*args).replace("\0", "\ufffd")
    for plain, escaped in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"),
                           ('"', "&#34;")):  # fmt: skip
        text = text.replace(plain, escaped)
    return text


def _js(*args: Any) -> str:
    """Go's `js`: JSEscapeString (quotes and backslash escaped, `<>&=` and controls as \\uXXXX)."""
    out = []
    for ch in _print(*args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus  # Go's url.QueryEscape

    return quote_plus(_print(*args), safe="-_.~")


def _slice(item: Any, *indexes: Any) -> Any:
    """Go's `slice x 1 2`: x[1:2] of a string or a list (a third index: the capacity)."""
    if not isinstance(item, str | list):
        raise CallError(f"can't slice item of type {go_type(item)}")
    if len(indexes) > 3 or (isinstance(item, str) and len(indexes) > 2):
        raise CallError(f"too many slice indexes: {len(indexes)}")
    bounds = [_int(i) for i in indexes]
    for bound in bounds:
        if not 0 <= bound <= len(item):
            raise CallError(f"index out of range: {bound}")
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise CallError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) >= 2 else len(item)
    return item[start:end]


def _truncate(value: Any, length: Any) -> str:
    text, size = _string(value), _int(length)
    return text if len(text) < size else text[:size]


def _split(value: Any, separator: Any) -> list[str]:
    text, sep = _string(value), _string(separator)
    return list(text) if sep == "" else text.split(sep)


def _go_json(value: Any) -> str:
    """Go's json encoding without HTML escaping, as Docker's `json` function does it; a
    `Context` is its own MarshalJSON's bytes (json.Marshal: escaped, keys sorted)."""
    if isinstance(value, Marshaled):
        return value.text
    if isinstance(value, Context):
        fields = {k: value[k] for k in sorted(value) if not callable(value[k])}
        return _html_escape(_go_json(fields))
    if isinstance(value, NilSlice | NilMap):
        return "null"
    if isinstance(value, dict):
        keys = sorted(value, key=str) if _go_map(value) else list(value)
        pairs = (f"{_go_json(str(k))}:{_go_json(value[k])}" for k in keys)
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if isinstance(value, float):
        return go_float(value, json_style=True)
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")  # as Go does


def _go_map(value: dict[str, Any]) -> bool:
    """A dict Docker types as a Go map (Labels, ExposedPorts: json sorts its keys), not a
    struct (its fields keep their order): all strings, or all empty sets (`{"80/tcp":{}}`)."""
    return not struct_like(value) or all(v == {} for v in value.values())


def _html_escape(text: str) -> str:
    """json.Marshal's HTMLEscape: `<`, `>`, `&` can only be inside strings of JSON text."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, bool]] = {
    "and": (lambda *a: a[-1], 1, True),  # evaluated lazily by the executor
    "or": (lambda *a: a[-1], 1, True),
    "not": (lambda value: not truth(value), 1, False),
    "eq": (_eq, 1, True),
    "ne": (lambda a, b: not _eq(a, b), 2, False),
    "lt": (_less, 2, False),
    "le": (lambda a, b: _less(a, b) or _eq(a, b), 2, False),
    "gt": (lambda a, b: not (_less(a, b) or _eq(a, b)), 2, False),
    "ge": (lambda a, b: not _less(a, b), 2, False),
    "index": (_index, 1, True),
    "len": (_length, 1, False),
    "print": (_print, 0, True),
    "printf": (_printf, 1, True),
    "println": (_println, 0, True),
    "json": (_go_json, 1, False),
    "join": (_join, 2, False),
    "split": (_split, 2, False),
    "title": (_title, 1, False),
    "lower": (lambda value: _string(value).lower(), 1, False),
    "upper": (lambda value: _string(value).upper(), 1, False),
    "pad": (_pad, 3, False),
    "truncate": (_truncate, 2, False),
    "html": (_html, 0, True),
    "js": (_js, 0, True),
    "urlquery": (_urlquery, 0, True),
    "slice": (_slice, 1, True),
}
