"""Shared fixtures: a real plugin host with in-process test processors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import flowc
from flowc.plugins import PluginHost, ProcessorSpec, load_plugins


def _factory(settings: Any, context: Any) -> None:  # never called by the compiler
    raise AssertionError("the compile wing must not build processors")


class TestProcessors:
    """A plugin registering processors shaped like the built-in ones."""

    @flowc.hookimpl
    def register_processors(self, register: Callable[[ProcessorSpec], None]) -> None:
        register(ProcessorSpec(
            name="recorder", factory=_factory, kind="tap",
            settings_schema={"type": "object", "additionalProperties": False,
                             "properties": {"directory": {"type": "string", "default": "calls"},
                                            "stereo": {"type": "boolean"}}}))
        register(ProcessorSpec(
            name="transcriber", factory=_factory, sample_rates=(16000,),
            settings_schema={"type": "object", "additionalProperties": False,
                             "properties": {"language": {"type": "string",
                                                         "enum": ["en-US", "fr-FR"]}}}))
        register(ProcessorSpec(
            name="agent", factory=_factory, plays_audio=True, wants_keep_call_alive=True,
            settings_schema={"type": "object", "additionalProperties": False,
                             "required": ["greeting"],
                             "properties": {"greeting": {"type": "string"},
                                            "max_turns": {"type": "integer", "minimum": 1}}}))


def make_host() -> PluginHost:
    """A host with only the test processors (no installed entry points)."""
    return load_plugins([TestProcessors()], entry_points_enabled=False)


@pytest.fixture(scope="session")
def host() -> PluginHost:
    """The test plugin host."""
    return make_host()
