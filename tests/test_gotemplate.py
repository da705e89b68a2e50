"""The Go text/template subset behind `inspect --format`: Go's output, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from layerlab.gotemplate import TemplateError, render

pytestmark = pytest.mark.unit

CONTAINER: dict[str, Any] = {
    "Id": "3f4e8b2c1d0a9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f",
    "Created": "2026-11-28T11:17:02.123456000Z",
    "Path": "sleep",
    "Args": ["300"],
    "State": {
        "Status": "running",
        "Running": True,
        "Paused": False,
        "Pid": 4242,
        "ExitCode": 0,
        "Error": "",
        "Health": None,
    },
    "Name": "/admiring_turing",
    "GraphDriver": {
        "Name": "overlay2",
        "Data": {"UpperDir": "/var/lib/layerlab/c/diff", "WorkDir": "/var/lib/layerlab/c/work"},
    },
    "Config": {
        "Hostname": "3f4e8b2c1d0a",
        "Env": ["PATH=/usr/bin:/bin"],
        "Cmd": ["sleep", "300"],
        "Image": "busybox",
        "Entrypoint": None,
        "Labels": {"org.example.team": "infra", "com.docker.compose.project": "demo"},
    },
}


def test_docker_examples() -> None:
    assert render("{{.State.Status}}", CONTAINER) == "running"
    assert render("{{.Name}} {{.Id}}", CONTAINER) == f"/admiring_turing {CONTAINER['Id']}"
    assert render("{{json .Config}}", CONTAINER) == (
        '{"Hostname":"3f4e8b2c1d0a","Env":["PATH=/usr/bin:/bin"],"Cmd":["sleep","300"],'
        '"Image":"busybox","Entrypoint":null,'
        '"Labels":{"org.example.team":"infra","com.docker.compose.project":"demo"}}'
    )
    assert render("{{.GraphDriver.Data.UpperDir}}", CONTAINER) == "/var/lib/layerlab/c/diff"
    assert render('{{index .Config.Labels "org.example.team"}}', CONTAINER) == "infra"


def test_literal_text_passes_through() -> None:
    assert render("", CONTAINER) == ""
    assert render("pid: {{.State.Pid}}\n", CONTAINER) == "pid: 4242\n"
    assert render("a }} b { c", CONTAINER) == "a }} b { c"  # `}}` outside an action is text


def test_values_print_like_gos_v() -> None:
    assert render("{{.State.Running}} {{.State.Paused}}", CONTAINER) == "true false"
    assert render("{{.State.Pid}}", CONTAINER) == "4242"
    assert render("{{.State.Health}}", CONTAINER) == "<nil>"
    assert render("[{{.State.Error}}]", CONTAINER) == "[]"
    assert render("{{.Config.Cmd}}", CONTAINER) == "[sleep 300]"
    assert render("{{.GraphDriver}}", CONTAINER) == (
        "map[Data:map[UpperDir:/var/lib/layerlab/c/diff WorkDir:/var/lib/layerlab/c/work] "
        "Name:overlay2]"
    )
    assert render("{{.}}", {"b": [1, None, {"z": 1, "a": True}], "a": "x"}) == (
        "map[a:x b:[1 <nil> map[a:true z:1]]]"
    )
    assert render("{{.}}", "plain") == "plain"


@pytest.mark.parametrize(
    ("value", "printed", "marshalled"),
    [
        (1.5, "1.5", "1.5"),
        (3.0, "3", "3"),
        (-0.25, "-0.25", "-0.25"),
        (100000.0, "100000", "100000"),
        (1000000.0, "1e+06", "1000000"),
        (1234567.0, "1.234567e+06", "1234567"),
        (1e21, "1e+21", "1e+21"),
        (0.0001, "0.0001", "0.0001"),
        (0.00001, "1e-05", "0.00001"),
        (1e-7, "1e-07", "1e-7"),
        (123456789.125, "1.23456789125e+08", "123456789.125"),
        (0.0, "0", "0"),
    ],
)
def test_floats_print_like_go(value: float, printed: str, marshalled: str) -> None:
    assert render("{{.}}", value) == printed
    assert render("{{json .}}", value) == marshalled


def test_missing_key_prints_no_value() -> None:
    assert render("{{.State.Foo}}", CONTAINER) == "<no value>"
    assert render("{{.GraphDriver.Data.LowerDir}}", CONTAINER) == "<no value>"
    assert render("{{.Nope}}", {}) == "<no value>"


def test_descending_into_a_missing_key_is_an_error_like_dockers() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{.State.Foo.Bar}}", CONTAINER)
    assert str(info.value) == (
        'template: :1:8: executing "" at <.State.Foo.Bar>: map has no entry for key "Foo"'
    )


def test_descending_into_null_or_a_scalar_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"nil pointer evaluating interface \{\}\.Status"):
        render("{{.State.Health.Status}}", CONTAINER)
    with pytest.raises(TemplateError, match="can't evaluate field Foo in type string"):
        render("{{.Name.Foo}}", CONTAINER)
    with pytest.raises(TemplateError, match=r"^template: :2:7: executing"):
        render("x\n{{.Nope.Foo}}", CONTAINER)  # Go's line and column


def test_json() -> None:
    assert render("{{json .}}", {"b": 1, "a": [True, None, "x"]}) == '{"b":1,"a":[true,null,"x"]}'
    assert render("{{json .Args}}", CONTAINER) == '["300"]'
    assert render("{{json .State.Error}}", CONTAINER) == '""'
    assert render("{{json .Missing}}", CONTAINER) == "null"
    # No HTML escaping (Docker turns it off); non-ASCII as is; quotes and controls escaped.
    assert render("{{json .}}", '<a&b> é "q"\n\t') == '"<a&b> é \\"q\\"\\n\\t"'
    assert render("{{json .}}", "\u2028") == '"\\u2028"'


def test_json_of_nan_is_an_error() -> None:
    with pytest.raises(TemplateError, match="error calling json: json: unsupported value: NaN"):
        render("{{json .}}", float("nan"))


def test_index() -> None:
    labels = '{{index .Config.Labels "com.docker.compose.project"}}'
    assert render(labels, CONTAINER) == "demo"
    # A missing label is "" as with Docker's map[string]string; other maps give nil.
    assert render('[{{index .Config.Labels "nope"}}]', CONTAINER) == "[]"
    assert render('{{index .State "nope"}}', CONTAINER) == "<nil>"
    assert render("{{index .Config.Cmd 1}}", CONTAINER) == "300"
    assert render('{{index . "a" 1 "b"}}', {"a": [0, {"b": "deep"}]}) == "deep"
    with pytest.raises(TemplateError, match="error calling index: index out of range: 2"):
        render("{{index .Config.Cmd 2}}", CONTAINER)
    with pytest.raises(TemplateError, match="can't index item of type string"):
        render('{{index .Name "x"}}', CONTAINER)


def test_join_upper_lower_len_println() -> None:
    assert render('{{join .Config.Cmd " "}}', CONTAINER) == "sleep 300"
    assert render('{{join .Config.Entrypoint ","}}', CONTAINER) == ""
    assert render("{{upper .Config.Image}} {{lower `ABC`}}", CONTAINER) == "BUSYBOX abc"
    assert render("{{len .Config.Cmd}} {{len .Config.Labels}} {{len `é`}}", CONTAINER) == "2 2 2"
    assert render("{{println .Path .State.Pid}}", CONTAINER) == "sleep 4242\n"
    with pytest.raises(TemplateError, match="expected string; got int"):
        render("{{upper .State.Pid}}", CONTAINER)


def test_pipelines_pass_the_value_as_the_last_argument() -> None:
    assert render("{{.Config.Image | upper}}", CONTAINER) == "BUSYBOX"
    assert render("{{.Config.Labels | json}}", CONTAINER) == (
        '{"org.example.team":"infra","com.docker.compose.project":"demo"}'
    )
    with pytest.raises(TemplateError, match=r"error calling join: .* expected \[\]string"):
        render('{{.Config.Cmd | join "-"}}', CONTAINER)  # join's list comes first


def test_strings_in_actions() -> None:
    assert render('{{"a}}b"}}', {}) == "a}}b"
    assert render(r'{{"tab\there \u00e9 \x41"}}', {}) == "tab\there é A"
    assert render("{{`raw\\n`}}", {}) == "raw\\n"
    assert render("{{-3}}", {}) == "-3"  # a number, not a trim marker


def test_trim_markers() -> None:
    assert render("a  \n {{- .Path -}} \n\t b", CONTAINER) == "asleepb"
    assert render("a {{- .Path}} b", CONTAINER) == "asleep b"
    assert render("a {{.Path -}} b", CONTAINER) == "a sleepb"
    assert render("{{.Path}}\n{{- .State.Pid}}", CONTAINER) == "sleep4242"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Name", "template: :1: unclosed action"),
        ("ok\n{{.Name}} {{", "template: :2: unclosed action"),
        ("{{`a}}`", "template: :1: unclosed action"),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{nope .Name}}", 'template: :1: function "nope" not defined'),
        ("{{.Name | nope}}", 'template: :1: function "nope" not defined'),
        ("{{range .Args}}{{.}}{{end}}", "template: :1: {{range}} is not supported"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{.Name |}}", "template: :1: missing value for command"),
        ("{{.Name .Id}}", "template: :1: can't give argument to non-function .Name"),
        ("{{.Name | .Id}}", "template: :1: can't give argument to non-function .Id"),
        ("{{(.Name)}}", 'template: :1: unexpected "(" in command'),
        (r'{{"\q"}}', r'template: :1: invalid syntax: "\q"'),
    ],
)
def test_unparseable_templates(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, CONTAINER)
    assert str(info.value) == message


def test_parse_errors_come_before_any_output() -> None:
    with pytest.raises(TemplateError, match="not defined"):
        render("{{.Name}}{{nope}}", CONTAINER)


def test_wrong_number_of_arguments() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{json .Name .Id}}", CONTAINER)
    assert str(info.value) == (
        'template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 2'
    )
    with pytest.raises(TemplateError, match="want at least 1 got 0"):
        render("{{index}}", CONTAINER)
