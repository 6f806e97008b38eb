"""The plugin host: isolated loading, registries, misspelled hooks."""

from collections.abc import Callable
from importlib.metadata import EntryPoint
from types import SimpleNamespace

import pluggy
import pytest

import flowc
from flowc.plugins import EngineSpec, ProcessorSpec, _load_entry_point, load_plugins, new_manager


class _Plugin:
    @flowc.hookimpl
    def register_processors(self, register: Callable[[ProcessorSpec], None]) -> None:
        register(ProcessorSpec(name="passthrough", factory=lambda s, c: None))

    @flowc.hookimpl
    def register_engines(self, register: Callable[[EngineSpec], None]) -> None:
        register(EngineSpec(kind="tts", name="silent", factory=lambda: None))


def test_extra_plugin_registers_processors_and_engines() -> None:
    host = load_plugins([_Plugin()], entry_points_enabled=False)
    assert host.processors["passthrough"].plugin
    assert set(host.engines_of("tts")) == {"silent"}
    assert host.engines_of("transcriber") == {}


def test_broken_entry_point_is_reported_not_raised() -> None:
    manager = new_manager()
    ep = EntryPoint(name="broken", value="flowc_no_such_module:plugin", group="flowc")
    info = _load_entry_point(manager, ep)
    assert info.error is not None and "ModuleNotFoundError" in info.error
    assert not manager.has_plugin("broken")


def test_misspelled_hook_fails_loudly() -> None:
    class Misspelled:
        @flowc.hookimpl
        def register_processor(self, register: object) -> None:  # missing "s"
            pass

    with pytest.raises(pluggy.PluginValidationError):
        load_plugins([Misspelled()], entry_points_enabled=False)


def test_failing_registration_is_reported() -> None:
    class Failing:
        @flowc.hookimpl
        def register_processors(self, register: object) -> None:
            raise RuntimeError("boom")

    host = load_plugins([SimpleNamespace(), Failing()], entry_points_enabled=False)
    errors = [p.error for p in host.plugins if p.error]
    assert errors == ["RuntimeError: boom"]
