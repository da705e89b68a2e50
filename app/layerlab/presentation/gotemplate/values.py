"""The data as Go would see it: the types Docker gives a null, a missing key, a listing
row (`Context`), an inspect struct (`Struct`), the errors, and Go's `%v` of each value."""

from __future__ import annotations

import math
from typing import Any

PARSE_EXIT_CODE = 64  # Docker's exit code for a template that does not parse
EXEC_EXIT_CODE = 1  # ... and for one that fails while executing


# Docker's typed fields that print `[]` / `map[]` when null (Go prints nil slices so).
NIL_SLICES = frozenset(
    "Args Binds CapAdd CapDrop Cmd Devices Dns DnsOptions DnsSearch Entrypoint Env ExecIDs "
    "ExtraHosts GroupAdd Links Mounts OnBuild RepoDigests RepoTags SecurityOpt Shell "
    "Layers".split()
)
NIL_MAPS = frozenset(
    "ExposedPorts Labels Options Ports Sysctls Tmpfs Volumes StorageOpt Status".split()
)


class NilSlice(list[Any]):
    """A typed field that is null: `%v` prints `[]`, but `json` marshals it as `null`."""


class NilMap(dict[str, Any]):
    """A typed map field that is null: `%v` prints `map[]`, `json` gives `null`."""


def typed_nil(name: str, value: Any) -> Any:
    """A null under a name Docker types as a slice or a map: Go's empty one of that type."""
    if value is None and name in NIL_SLICES:
        return NilSlice()
    if value is None and name in NIL_MAPS:
        return NilMap()
    return value


class Context(dict[str, Any]):
    """A listing row (`ps`, `images`, `volume ls` ...): the dot of one of Docker's formatter
    contexts, a struct whose MarshalJSON is Go's json.Marshal of a map of its fields. So
    `{{json .}}` sorts the keys, escapes `<`, `>`, `&` (`\u003c`) and leaves methods out,
    while `{{json .Field}}` goes through Docker's non-escaping encoder."""


class Marshaled(dict[str, Any]):
    """A struct whose JSON is not its fields by name (Go's json tags: `events.Message` has
    `.Status`, marshaled as `status`): the template sees the fields, `json` the text."""

    def __init__(self, fields: dict[str, Any], text: str) -> None:
        super().__init__(fields)
        self.text = text


class Struct(dict[str, Any]):
    """One of Docker's inspect structs: JSON leaves its empty `omitempty` fields out, while a
    template still reads them (`{{.Config.Shell}}` is `[]`, a bind's `{{.Name}}` is empty)
    and `%v` prints every field in order (`{{.HostConfig.RestartPolicy}}` is `{no 0}`)."""

    def __init__(self, fields: dict[str, Any], omitted: frozenset[str]) -> None:
        super().__init__({k: v for k, v in fields.items() if k not in omitted})
        self.fields = fields


class TemplateError(ValueError):
    """A template that cannot be parsed or executed; the message is one line."""

    def __init__(self, message: str, exit_code: int = EXEC_EXIT_CODE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.partial = ""  # what an execution wrote before it failed (`version` prints it)


class CallError(Exception):
    """A template function's complaint, reported by the caller with its location."""


class _Missing:
    """A map key that is not there: Go prints `<no value>` and passes on nil."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


def struct_like(value: dict[str, Any]) -> bool:
    """A map Docker types as a struct (a missing key is an error), not a string map."""
    return any(not isinstance(v, str) for v in value.values())


_GO_TYPES = {
    type(None): "nil",
    bool: "bool",
    int: "int",
    float: "float64",
    str: "string",
    list: "[]interface {}",
    dict: "map[string]interface {}",
}


def go_type(value: Any) -> str:
    """The Go type a JSON-decoded value would have, for error messages."""
    return _GO_TYPES.get(type(value), type(value).__name__)


def go_value(value: Any) -> str:
    """Go's `%v` of a JSON-decoded value: `<nil>`, `true`, `[a b]`, `map[k:v]` (keys sorted)."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value, json_style=False)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, Struct):  # Go's `{a b}`: every field, in order
        return "{" + " ".join(go_value(typed_nil(k, v)) for k, v in value.fields.items()) + "}"
    if isinstance(value, dict):
        keys = sorted((k for k in value if not callable(value[k])), key=str)  # no methods
        pairs = (f"{k}:{go_value(value[k])}" for k in keys)
        return "map[" + " ".join(pairs) + "]"
    return str(value)


def go_float(value: float, *, json_style: bool) -> str:
    """A float with Go's shortest digits: `%v` (`1e+06`) or encoding/json (`1000000`)."""
    if not math.isfinite(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        if json_style:
            raise CallError(f"json: unsupported value: {text}")
        return text
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    mantissa, _, exponent = repr(abs(value)).partition("e")  # repr: shortest round-trip
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    exp = point - 1
    low, high = (-6, 21) if json_style else (-4, 6)
    use_exp = exp < low or exp >= high
    if use_exp:
        text = digits[0] + ("." + digits[1:] if digits[1:] else "")
        text += f"e{exp:+d}" if json_style else f"e{exp:+03d}"  # json writes e-7, %v e-07
    elif point <= 0:
        text = "0." + "0" * -point + digits
    else:
        text = digits[:point].ljust(point, "0") + ("." + digits[point:] if digits[point:] else "")
    return ("-" if value < 0 else "") + text
