"""The Go text/template subset behind `inspect --format`: Go's output, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from layerlab.presentation.gotemplate import TemplateError, render

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
    # Docker 20.10: a struct keeps its field order, a map (Labels) is marshalled key-sorted.
    assert render("{{json .Config}}", CONTAINER) == (
        '{"Hostname":"3f4e8b2c1d0a","Env":["PATH=/usr/bin:/bin"],"Cmd":["sleep","300"],'
        '"Image":"busybox","Entrypoint":null,'
        '"Labels":{"com.docker.compose.project":"demo","org.example.team":"infra"}}'
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


def test_missing_key_in_a_string_map_prints_no_value() -> None:
    # Docker 20.10: `{{.Config.Labels.zz}}` -> `<no value>` (a map[string]string)
    assert render("{{.Config.Labels.zz}}", CONTAINER) == "<no value>"
    assert render("{{.Config.Labels.zz.x}}", CONTAINER) == "<no value>"
    assert render("{{.GraphDriver.Data.LowerDir}}", CONTAINER) == "<no value>"
    assert render("{{.Nope}}", {}) == "<no value>"


def test_missing_key_in_a_struct_is_dockers_error() -> None:
    # Docker 20.10, exit 1: template: :1:2: executing "" at <.Nope>: map has no entry ...
    with pytest.raises(TemplateError) as info:
        render("{{.Nope}}", CONTAINER)
    assert str(info.value) == (
        'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'
    )
    assert info.value.exit_code == 1
    with pytest.raises(TemplateError, match=r'^template: :1:8: executing "" at <\.State\.Foo>'):
        render("{{.State.Foo}}", CONTAINER)
    with pytest.raises(TemplateError, match=r"^template: :1:5: executing .* <\.Nope>"):
        render("{{if .Nope}}x{{end}}", CONTAINER)


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
    assert render("{{json .Config.Labels.Missing}}", CONTAINER) == "null"
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
        '{"com.docker.compose.project":"demo","org.example.team":"infra"}'  # a map: sorted
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
        ("{{define `x`}}{{end}}", "template: :1: {{define}} is not supported"),
        # Docker 20.10 (exit 64 for each):
        ("{{if}}", "template: :1: missing value for if"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{range .Args}}", "template: :1: unexpected EOF"),
        ("{{range .Args}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
        ("{{$y}}", 'template: :1: undefined variable "$y"'),
        ("{{if 1}}{{$x := 1}}{{end}}{{$x}}", 'template: :1: undefined variable "$x"'),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{.Name |}}", "template: :1: missing value for command"),
        ("{{.Name .Id}}", "template: :1: can't give argument to non-function .Name"),
        ("{{.Name | .Id}}", "template: :1: can't give argument to non-function .Id"),
        ("{{(.Name}}", "template: :1: unclosed left paren"),
        (r'{{"\q"}}', r'template: :1: invalid syntax: "\q"'),
    ],
)
def test_unparseable_templates(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, CONTAINER)
    assert str(info.value) == message
    assert info.value.exit_code == 64  # Docker's exit code for a template that does not parse


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


# Control structures, variables and functions: each answer is Docker 20.10's (`inspect -f`
# on a busybox container with Cmd ["sh", "-c", "echo hi"] and label a=b).
DOCKER = {
    "Name": "/pl-t1",
    "State": {"Running": False, "Status": "created", "Pid": 0},
    "Config": {
        "Cmd": ["sh", "-c", "echo hi"],
        "Env": ["PATH=/usr/bin:/bin"],
        "Labels": {"a": "b"},
        "Image": "busybox",
        "Entrypoint": None,
        "Volumes": None,
    },
    "Mounts": None,
    "HostConfig": {"Binds": None},
}


@pytest.mark.parametrize(
    ("template", "docker"),
    [
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[PATH=/usr/bin:/bin]"),
        ('{{if .State.Running}}R{{else if eq .State.Status "created"}}C{{else}}X{{end}}', "C"),
        ("{{with .Config}}{{.Image}}{{end}}", "busybox"),
        ("{{with .Config.Labels.zz}}y{{else}}n{{end}}", "n"),
        ("{{$x := .Name}}{{$x}}", "/pl-t1"),
        ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
        ("{{range $i, $e := .Config.Cmd}}{{$i}}={{$e}} {{end}}", "0=sh 1=-c 2=echo hi "),
        ("{{range $e := .Config.Cmd}}{{$e}}{{end}}", "sh-cecho hi"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}}{{end}}", "a:b"),
        ("{{range .Config.Labels}}{{.}}{{end}}", "b"),
        ("{{range .Mounts}}x{{else}}none{{end}}", "none"),
        ("{{range 3}}x{{end}}", "xxx"),
        ("{{range $i, $e := .Config.Cmd}}{{if eq $i 1}}{{break}}{{end}}{{$e}}{{end}}", "sh"),
        ("{{range $i, $e := .Config.Cmd}}{{if eq $i 1}}{{continue}}{{end}}{{$e}}{{end}}",
         "shecho hi"),
        ('{{printf "%s-%d-%v-%q" .Name 3 .Config.Cmd .Name}}', '/pl-t1-3-[sh -c echo hi]-"/pl-t1"'),
        ('{{printf "%5s|%-5s|%05d|%x|%t" "a" "b" 42 255 true}}', "    a|b    |00042|ff|true"),
        ('{{printf "%d" "x"}} {{printf "%d %d" 1}} {{printf "%d" 1 2}}',
         "%!d(string=x) 1 %!d(MISSING) 1%!(EXTRA int=2)"),
        ('{{printf "%6.2f|%e|%g|%c|%o|%b|%X|%+d|%%" 3.14159 1000.0 0.5 65 8 5 255 3}}',
         "  3.14|1.000000e+03|0.5|A|10|101|FF|+3|%"),
        ('{{printf "%q" .Config.Cmd}} {{printf "%T" 1}} {{printf "%s" 3}}',
         '["sh" "-c" "echo hi"] int %!s(int=3)'),
        ('{{.State.Pid | printf "%d"}} {{index .Config.Cmd 1 | printf "%s!"}}', "0 -c!"),
        ("{{eq 1 2}} {{ne 1 2}} {{lt 1 2}} {{le `a` `b`}} {{gt 2.5 1.0}} {{ge 1 1}}",
         "false true true true true true"),
        ('{{eq .State.Status "created" "exited"}}', "true"),
        ('{{and 1 0}} {{or 0 "x"}} {{not 0}} {{or 0 ""}} {{and 0 .Nope}} {{not .Config.Cmd}}',
         '0 x true  0 false'),
        ('{{json .Config.Cmd}} {{split "a,b" ","}} {{title "hello world"}}',
         '["sh","-c","echo hi"] [a b] Hello World'),
        ('{{pad "x" 2 3}}| {{truncate "abcdef" 3}} {{title "hello-wOrld_x y.z"}}',
         "  x   | abc Hello-WOrld_x Y.Z"),
        ("{{(index .Config.Cmd 0)}} {{.Config.Cmd | len}} {{len .Config.Labels}}", "sh 3 1"),
        ('{{printf "%v" .Config.Labels}} {{1.5}} {{true}}', "map[a:b] 1.5 true"),
        # Nil lists and maps Docker types as slices and maps print as Go prints them empty.
        ("{{.Mounts}} {{.HostConfig.Binds}} {{.Config.Volumes}}", "[] [] map[]"),
    ],
)  # fmt: skip
def test_control_structures_match_docker(template: str, docker: str) -> None:
    assert render(template, DOCKER) == docker


@pytest.mark.parametrize(
    ("template", "docker"),
    [
        ('{{lt 1 "a"}}',
         'template: :1:2: executing "" at <lt 1 "a">: error calling lt: incompatible types '
         "for comparison"),
        ("{{eq .Config.Cmd 1}}",
         'template: :1:2: executing "" at <eq .Config.Cmd 1>: error calling eq: incompatible '
         "types for comparison"),
        ("{{1.5}} {{true}} {{nil}}",
         'template: :1:19: executing "" at <nil>: nil is not a command'),
        ("{{len .Nope}}",
         'template: :1:6: executing "" at <.Nope>: map has no entry for key "Nope"'),
        ("{{or 0 .Nope}}",
         'template: :1:7: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ],
)  # fmt: skip
def test_execution_errors_match_docker(template: str, docker: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, DOCKER)
    assert str(info.value) == docker
    assert info.value.exit_code == 1


def test_a_listing_row_is_a_struct_with_methods() -> None:
    row = {"Names": "web", "Label": lambda key: {"app": "x"}.get(key, "")}
    context = "*formatter.ContainerContext"
    assert render('{{.Names}} {{.Label "app"}}|{{.Label "z"}}', row, struct=context) == "web x|"
    with pytest.raises(TemplateError) as info:  # Docker 28's `ps --format '{{.Nope}}'`
        render("{{.Nope}}", row, struct=context)
    assert str(info.value) == (
        'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type '
        "*formatter.ContainerContext"
    )


def test_a_null_typed_field_prints_empty_yet_marshals_as_null() -> None:
    # docker inspect -f '{{.Config.Cmd}}|{{json .Config.Cmd}}' (Cmd null) -> []|null
    data = {"Config": {"Cmd": None, "Labels": None}}
    assert render("{{.Config.Cmd}}|{{json .Config.Cmd}}", data) == "[]|null"
    assert render("{{.Config.Labels}}|{{json .Config.Labels}}", data) == "map[]|null"


def test_json_of_a_listing_row_is_json_marshal_and_of_a_field_is_not_escaped() -> None:
    from layerlab.presentation.gotemplate import Context

    row = Context(Names="pj", Labels="a=<b>&c", Label=lambda key: key, Command='"sh <x>"')
    # Docker 20.10, `ps --format '{{json .}}'` on `-l 'a=<b>&c'`: keys sorted, <>& escaped,
    # the Label method left out: {"Command":...,"Labels":"a=\u003cb\u003e\u0026c",...}
    assert render("{{json .}}", row, struct="*formatter.ContainerContext") == (
        '{"Command":"\\"sh \\u003cx\\u003e\\"","Labels":"a=\\u003cb\\u003e\\u0026c","Names":"pj"}'
    )
    # ... while `{{json .Labels}}` goes through its non-escaping encoder: "a=<b>&c".
    assert render("{{json .Labels}}", row) == '"a=<b>&c"'
    assert render("{{json .}}", {"a": "<b>&c"}) == '{"a":"<b>&c"}'  # inspect's `{{json .}}`
    # `{{.Label}}` with no key: Docker's "wrong number of args for Label: want 1 got 0".
    with pytest.raises(
        TemplateError, match=r"at <\.Label>: wrong number of args for Label: want 1"
    ):
        render("{{.Label}}", row, struct="*formatter.ContainerContext")
    assert "<function" not in render("{{.}}", row)


def test_go_counts_arguments_before_evaluating_them() -> None:
    # Docker: `ps --format '{{json .Id 1}}'` (no field Id) -> "at <json>: wrong number of
    # args for json: want 1 got 2", not the missing field.
    with pytest.raises(TemplateError, match=r":1:2: executing \"\" at <json>: wrong number"):
        render("{{json .Id 1}}", {"ID": "x"}, struct="*formatter.ContainerContext")


def test_a_named_template_says_its_name() -> None:
    # Docker: `version --format '{{.Nope'` -> "template: version:1: unclosed action";
    # '{{.Nope}}' -> 'template: version:1:2: executing "version" at <.Nope>: ...'.
    with pytest.raises(TemplateError, match=r"^template: version:1: unclosed action$"):
        render("{{.Nope", {}, name="version")
    with pytest.raises(TemplateError) as info:
        render("{{.Nope}}", {"Client": {}}, struct="system.versionInfo", name="version")
    assert str(info.value) == (
        'template: version:1:2: executing "version" at <.Nope>: '
        "can't evaluate field Nope in type system.versionInfo"
    )


def test_gos_escaping_builtins_and_slice() -> None:
    # Docker 20.10 `inspect -f` with each template, busybox's config as the data:
    assert render('{{js "<a>"}}', {}) == "\\u003Ca\\u003E"
    assert render('{{js "it\'s \\"x\\" \\\\ = \\n"}}', {}) == 'it\\\'s \\"x\\" \\\\ \\u003D \\u000A'
    assert render("{{html .}}", '<a href="x">&\'</a>') == (
        "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;"
    )
    assert render('{{urlquery "a b&c=d/é~"}}', {}) == "a+b%26c%3Dd%2F%C3%A9~"
    assert render('{{slice "abc" 1}}|{{slice "abc" 1 2}}|{{slice .L 0 1}}', {"L": [1, 2]}) == (
        "bc|b|[1]"
    )
    with pytest.raises(TemplateError, match=r"error calling slice: index out of range: 5$"):
        render('{{slice "abc" 5}}', {})
    with pytest.raises(TemplateError, match=r"error calling slice: invalid slice index: 2 > 1$"):
        render('{{slice "abc" 2 1}}', {})
    # An integer constant past uint64 does not parse: 'integer overflow: "1000...0"', 64.
    with pytest.raises(TemplateError, match='^template: :1: integer overflow: "1' + "0" * 20):
        render("{{json 100000000000000000000}}", {})


def test_a_failed_execution_keeps_what_it_wrote() -> None:
    # `docker version -f 'x{{.Nope}}'` prints "x" and a newline before the error.
    with pytest.raises(TemplateError) as info:
        render("x{{.Nope}}", {"A": 1}, struct="system.versionInfo")
    assert info.value.partial == "x"
