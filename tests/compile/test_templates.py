"""Templates: sandbox, strict names, escaping of request data, conditions, variables."""

from __future__ import annotations

import pytest

from flowc.compile.templates import TemplateRenderError
from tests.compile._util import codes, compile_ok, compile_yaml, render

HOSTILE = [
    "<script>&amp;</script>",
    'a"b\'c',
    "{{ 7 * 7 }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{{ ''.__class__.__mro__ }}",
    "]]><![CDATA[",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_request_parameters_are_escaped_and_never_evaluated(value: str) -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Speak: "Caller {{ From }}"
            - Dial:
                callerId: "{{ From }}"
                steps:
                  - Number: "14155550100"
    """)
    xml = render(flow, From=value)
    escaped_text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f"<Speak>Caller {escaped_text}</Speak>" in xml
    assert f'callerId="{escaped_text.replace(chr(34), "&quot;")}"' in xml
    assert "49" not in xml and "xxx" not in xml


def test_vars_and_defines_render_and_defines_win() -> None:
    flow = compile_ok("""
        vars:
          company: Acme
          team: sales
        documents:
          answer:
            - Speak: "{{ company }} {{ team }}"
    """, variables={"team": "support"})
    assert render(flow) == "<Response><Speak>Acme support</Speak></Response>"


def test_vars_win_over_posted_parameters() -> None:
    flow = compile_ok("""
        vars: {company: Acme}
        documents:
          answer:
            - Speak: "{{ company }}"
    """)
    assert "Acme" in render(flow, company="Evil")


def test_undefined_names_point_inside_the_yaml() -> None:
    assert codes("""
        vars: {company: Acme}
        documents:
          answer:
            - Speak: |
                Hello from {{ company }}.
                Your number is {{ Fromm }}.
    """) == [(7, 27, "template.undefined")]


def test_request_parameters_need_no_definition_and_default_to_empty() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Speak: "[{{ Digits }}][{{ Speech }}]"
    """)
    assert render(flow) == "<Response><Speak>[][]</Speak></Response>"
    assert render(flow, Digits="42") == "<Response><Speak>[42][]</Speak></Response>"


@pytest.mark.parametrize("source", [
    "{{ ''.__class__ }}",
    "{{ From['__class__'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum }}",
    "{% include 'x' %}",
    "{% import 'x' as y %}",
])
def test_sandbox_escapes_are_refused_at_compile_time(source: str) -> None:
    result = compile_yaml(f"""
        documents:
          answer:
            - Speak: "{source}"
    """)
    assert result.flow is None
    assert {d.code for d in result.diagnostics} <= {
        "template.unsafe", "template.undefined", "template.unsupported"}


def test_runtime_sandbox_errors_carry_the_yaml_position() -> None:
    flow = compile_ok("""
        vars: {n: 3}
        documents:
          answer:
            - Speak: "{{ 'x' * (n * 100000) }}"
    """)
    with pytest.raises(TemplateRenderError) as info:
        render(flow)
    assert (info.value.line, info.value.col) == (5, 14)
    assert "too large" in info.value.message


def test_strict_undefined_attribute_fails_at_render() -> None:
    flow = compile_ok("""
        vars:
          agent: {name: Ada}
        documents:
          answer:
            - Speak: "{{ agent.nickname }}"
    """)
    with pytest.raises(TemplateRenderError):
        render(flow)


def test_if_conditions_select_steps_per_request() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Speak: one
              if: Digits == "1"
            - Speak: two
              if: Digits == "2"
            - Speak: always
    """)
    assert render(flow, Digits="1") == (
        "<Response><Speak>one</Speak><Speak>always</Speak></Response>")
    assert render(flow) == "<Response><Speak>always</Speak></Response>"


def test_if_with_hostile_parameter_is_data() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Speak: match
              if: From == "{{ 1 }}"
    """)
    assert "match" in render(flow, From="{{ 1 }}")
    assert "match" not in render(flow, From="1")


def test_env_namespace_only_with_flag() -> None:
    text = """
        documents:
          answer:
            - Speak: "{{ env.FLOWC_TEST_NAME }}"
    """
    assert [c for _, _, c in codes(text)] == ["template.undefined"]
    flow = compile_ok(text, env=True, environ={"FLOWC_TEST_NAME": "a<b"})
    assert render(flow) == "<Response><Speak>a&lt;b</Speak></Response>"
    missing = compile_yaml(text, env=True, environ={})
    assert [d.code for d in missing.diagnostics] == ["template.undefined"]
    assert "FLOWC_TEST_NAME" in missing.diagnostics[0].message


def test_template_syntax_error_line_inside_block_scalar() -> None:
    assert codes("""
        documents:
          answer:
            - Speak: |
                line one
                line two {% if %}
    """) == [(6, 9, "template.syntax")]


def test_pipeline_settings_render_with_vars_and_fill_defaults() -> None:
    flow = compile_ok("""
        vars: {company: Acme}
        documents:
          answer:
            - Stream:
                bidirectional: true
                keepCallAlive: true
                contentType: audio/x-l16;rate=16000
                pipeline:
                  - recorder:
                  - transcriber: {language: en-US}
                  - agent: {greeting: "Hi, this is {{ company }}."}
    """)
    (stream,) = flow.streams.values()
    assert [(s.processor, dict(s.settings)) for s in stream.pipeline] == [
        ("recorder", {"directory": "calls"}),
        ("transcriber", {"language": "en-US"}),
        ("agent", {"greeting": "Hi, this is Acme."}),
    ]


FAST_CASES = [
    ("Digits == '1'", {"Digits": "1"}), ("Digits == '1'", {}),
    ("Digits != '1' and From", {"From": "x"}), ("Digits in ['1', '2']", {"Digits": "2"}),
    ("Digits not in ('1', '2')", {"Digits": "3"}), ("not From", {}),
    ("1 < 2 < 3", {}), ("'a' < Digits <= 'c'", {"Digits": "b"}), ("company == 'Acme'", {}),
    ("From or To", {"To": "t"}),
]


@pytest.mark.parametrize(("expression", "params"), FAST_CASES)
def test_fast_conditions_agree_with_jinja(expression: str, params: dict[str, str]) -> None:
    from flowc.compile import fastpath
    from flowc.compile.templates import Templates

    templates = Templates({"company": "Acme"}, env_enabled=False)
    fast = templates.condition(expression, ("f", 1, 1))
    jinja = templates.env.compile_expression(expression)
    assert fast.evaluate(params) == bool(jinja(**templates.context(params)))
    parser = __import__("jinja2.parser", fromlist=["Parser"]).Parser(
        templates.env, expression, state="variable")
    assert fastpath.expression(parser.parse_expression(), templates.resolve) is not None


@pytest.mark.parametrize("source", [
    "Hello {{ company }}!", "{{ From }}{{ To }}", "plain {{ n }}\n", "{{ company | upper }}",
    "{% if From %}x{% endif %}", "{{ n + 1 }}",
])
def test_fast_templates_agree_with_jinja(source: str) -> None:
    from flowc.compile.templates import Templates

    templates = Templates({"company": "Acme", "n": 3}, env_enabled=False)
    params = {"From": "<f>", "To": "t"}
    rendered = templates.template(source, ("f", 1, 1)).render(params)
    assert rendered == templates.env.from_string(source).render(templates.context(params))


def test_template_resource_limits() -> None:
    flow = compile_ok("""
        vars: {n: 20000}
        documents:
          answer:
            - Speak: "{% for i in range(n) %}x{% endfor %}"
            - Speak: "{% for i in range(1001) %}{% for j in range(1001) %}x{% endfor %}{% endfor %}"
    """)
    with pytest.raises(TemplateRenderError, match="range"):
        flow.answer.root.children[0].text.render({})  # type: ignore[union-attr]
    with pytest.raises(TemplateRenderError, match="output exceeds"):
        flow.answer.root.children[1].text.render({})  # type: ignore[union-attr]
