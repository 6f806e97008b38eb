"""The README's agent section: its flow sample compiles with the real agent schema."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import flowc_agent.plugin as agent_plugin
from flowc_agent.brains import Act, UserTurn
from flowc_agent.brains.rules import RuleBrain
from flowc_agent.settings import with_defaults

from flowc.compile import compile_text
from flowc.plugins import load_plugins

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("<!-- section: plugins/agent -->"):
                 README.index("<!-- /section: plugins/agent -->")]


def test_readme_agent_sample_compiles_and_its_rules_load() -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)
    source = "documents:\n  answer:\n" + textwrap.indent(textwrap.dedent(block), "    ")
    host = load_plugins([agent_plugin], entry_points_enabled=False)
    text = re.sub(r"^ *- transcriber:.*\n", "", source, flags=re.M)  # agent plugin only
    result = compile_text(text, filename="readme.yaml", host=host)
    assert result.flow is not None, result.diagnostics
    assert not [d for d in result.diagnostics if d.severity == "error"]
    (stream,) = result.flow.streams.values()
    (step,) = stream.pipeline
    settings = with_defaults(step.settings)
    brain = RuleBrain(settings["rules"])
    assert [i.name for i in brain.intents] == ["hours", "order", "sales", "human", "bye"]
    assert brain.decide(UserTurn("where is order number 7"))[0] == "Order 7 ships today."
    assert brain.decide(UserTurn("a human please"))[1] == Act(
        "transfer", "https://example.com/queue.xml")
