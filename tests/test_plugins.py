"""The plugin door: hooks, loading entry points one by one, ``python -m zchat`` and its switches.

In-process tests use a fresh :class:`zchat.plugins.Plugins` each (no module-global plugin
manager) and register in-test plugin classes (llm's style). End-to-end tests run
``python -m zchat`` in a subprocess with tests/plugins_fixture/site on PYTHONPATH: fake
installed distributions, one of them broken on purpose.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zchat
import zchat.client
from zchat import events as ev
from zchat import hookspecs
from zchat.keys import NoServer, ServerKeyChanged
from zchat.plugins import DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, TRACE_ENV, Launch, Plugins, ServerUnusable, load_plugins

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PLUGINS.md"
FIXTURE_SITE = ROOT / "tests" / "plugins_fixture" / "site"
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("zchat_") and callable(f))
KEY = "ab" * 32
NO_ENV = {DISABLE_AUTOLOAD_ENV: "1"}     # in-process loads: the built-ins only, whatever else is installed


# ---------------------------------------------------------------- in-test plugins (llm style)

class ShoutPlugin:
    __name__ = "ShoutPlugin"

    @zchat.hookimpl
    def zchat_register_frontends(self, register: zchat.RegisterFrontend) -> None:
        register("shout", lambda options: None, help="shouts")

    @zchat.hookimpl
    def zchat_addoption(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--shout-volume", type=int, default=11)


class RecorderPlugin:
    __name__ = "RecorderPlugin"

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ev.Event]] = []

    @zchat.hookimpl
    def zchat_event(self, client: Any, event: ev.Event) -> None:
        self.seen.append((client, event))


class RaisingPlugin:
    __name__ = "RaisingPlugin"

    @zchat.hookimpl
    def zchat_register_frontends(self, register: zchat.RegisterFrontend) -> None:
        raise RuntimeError("register failed")

    @zchat.hookimpl
    def zchat_addoption(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--ui")          # clashes with a core option

    @zchat.hookimpl
    def zchat_event(self, client: Any, event: ev.Event) -> None:
        raise RuntimeError("observer failed")


@pytest.fixture
def plugins() -> Plugins:
    return Plugins()


@pytest.fixture
def shout(plugins: Plugins) -> Iterator[ShoutPlugin]:
    plugin = ShoutPlugin()
    assert plugins.register(plugin, "undo-shout", "zchat-shout", "1.0")
    try:
        yield plugin
    finally:
        plugins.pm.unregister(name="undo-shout")


# ---------------------------------------------------------------- hookspecs and their documentation

def test_every_hook_has_a_docstring() -> None:
    assert HOOKS == ["zchat_addoption", "zchat_event", "zchat_notification", "zchat_register_frontends"]
    for name in HOOKS:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook: str) -> None:
    """datasette's test_plugin_hooks_are_documented: the signature as a plugin author writes it."""
    args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"{hook}({args})" in DOC.read_text(encoding="utf-8"), f"docs/PLUGINS.md lacks `{hook}({args})`"


# the Client's own methods and those of its mixins (zchat.client_features)
CLIENT_METHODS = sorted({n for cls in zchat.client.Client.__mro__ if cls.__module__.startswith("zchat.")
                         for n, f in vars(cls).items() if callable(f) and not n.startswith("_")})


@pytest.mark.parametrize("method", CLIENT_METHODS)
def test_every_client_method_is_documented_for_plugin_authors(method: str) -> None:
    """The plugin author's API: a docstring that says what raises, and a mention in docs/PLUGINS.md."""
    doc = inspect.getdoc(getattr(zchat.client.Client, method)) or ""
    assert doc, f"Client.{method} has no docstring"
    if method not in ("poll_events", "set_wakeup", "close"):
        assert "Raises" in doc, f"Client.{method}'s docstring does not say what it raises"
    assert f"`{method}(" in DOC.read_text(encoding="utf-8"), f"docs/PLUGINS.md does not name `{method}(`"


def test_the_docs_document_the_environment_switches() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for switch in (DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, TRACE_ENV, "--list-ui"):
        assert switch in doc


def test_public_names_are_reexported() -> None:
    for name in zchat.__all__:
        assert getattr(zchat, name) is not None
    assert zchat.hookimpl is hookspecs.hookimpl and zchat.Launch is Launch


# ---------------------------------------------------------------- built-ins go through the same door

def test_builtin_frontends_are_entry_points_of_zchat() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="zchat")}
    assert "cli" in eps, "setup.cfg's [options.entry_points] zchat group lacks cli (pip install -e . again?)"
    assert eps["cli"].value == "zchat.frontends.cli"
    assert eps["cli"].dist is not None and eps["cli"].dist.name == "zchat"


def test_builtin_cli_is_offered_through_the_plugin_manager() -> None:
    loaded = load_plugins(environ=NO_ENV)
    frontends = loaded.frontends()
    assert not loaded.failures, loaded.failures
    assert frontends["cli"].dist == "zchat" and frontends["cli"].version == zchat.__version__
    assert loaded.pm.has_plugin("cli")


def test_no_entry_points_when_autoload_is_off_by_argument() -> None:
    loaded = load_plugins(load_entrypoints=False, environ={})
    assert loaded.pm.get_plugins() == set() and loaded.frontends() == {}


# ---------------------------------------------------------------- hooks, one plugin at a time

def test_registered_frontend_carries_its_distribution(plugins: Plugins, shout: ShoutPlugin) -> None:
    info = plugins.frontends()["shout"]
    assert (info.help, info.plugin, info.dist, info.version) == ("shouts", "undo-shout", "zchat-shout", "1.0")


def test_plugin_options_are_added(plugins: Plugins, shout: ShoutPlugin) -> None:
    parser = argparse.ArgumentParser()
    plugins.add_options(parser)
    assert parser.parse_args(["--shout-volume", "3"]).shout_volume == 3


def test_duplicate_frontend_name_is_reported_and_the_first_keeps_it(plugins: Plugins, shout: ShoutPlugin) -> None:
    class Again(ShoutPlugin):
        __name__ = "Again"
    assert plugins.register(Again(), "again")
    assert plugins.frontends()["shout"].plugin == "undo-shout"
    plugins.frontends()                                   # asking again records nothing new
    assert [(f.plugin, f.where) for f in plugins.failures] == [("again", "zchat_register_frontends")]
    assert "taken by plugin 'undo-shout'" in plugins.failures[0].error


def test_a_raising_plugin_does_not_stop_the_others(plugins: Plugins, shout: ShoutPlugin) -> None:
    assert plugins.register(RaisingPlugin(), "raising")
    parser = argparse.ArgumentParser()
    parser.add_argument("--ui")
    plugins.add_options(parser)
    assert "shout" in plugins.frontends()
    assert parser.parse_args([]).shout_volume == 11
    assert {(f.plugin, f.where) for f in plugins.failures} == {
        ("raising", "zchat_addoption"), ("raising", "zchat_register_frontends")}
    assert "RuntimeError: register failed" in [f.error for f in plugins.failures]


def test_a_misspelt_hook_is_refused_with_the_known_hooks(plugins: Plugins) -> None:
    class Typo:
        __name__ = "Typo"

        @zchat.hookimpl
        def zchat_regsiter_frontends(self, register: Any) -> None:
            raise AssertionError("never called")
    assert not plugins.register(Typo(), "typo")
    assert not plugins.pm.has_plugin("typo")
    assert "unknown hook zchat_regsiter_frontends" in plugins.failures[0].error
    assert "zchat_register_frontends" in plugins.failures[0].error
    plugins.pm.check_pending()


def test_invalid_frontend_names_are_refused(plugins: Plugins) -> None:
    class Bad:
        __name__ = "Bad"

        @zchat.hookimpl
        def zchat_register_frontends(self, register: Any) -> None:
            register("has space", object, help="")
    plugins.register(Bad(), "bad")
    assert plugins.frontends() == {}
    assert "frontend name 'has space'" in plugins.failures[0].error


def test_event_observer_sees_events_in_order_and_a_raising_one_is_switched_off(
        plugins: Plugins, capsys: pytest.CaptureFixture[str]) -> None:
    recorder = RecorderPlugin()
    plugins.register(RaisingPlugin(), "raising")
    plugins.register(recorder, "recorder")
    client = object()
    [observe] = plugins.observers(client)  # type: ignore[arg-type]
    first, second = ev.Info(text="one"), ev.Info(text="two")
    observe(first)
    observe(second)
    assert recorder.seen == [(client, first), (client, second)]
    err = capsys.readouterr().err
    assert err.count("plugin 'raising' raised in zchat_event") == 1, err
    assert [f.where for f in plugins.failures] == ["zchat_event"]


def test_no_observer_when_no_plugin_watches_events(plugins: Plugins, shout: ShoutPlugin) -> None:
    assert plugins.observers(object()) == []  # type: ignore[arg-type]


# ---------------------------------------------------------------- Launch.client

def test_launch_client_wires_zchat_event_into_a_real_session(plugins: Plugins, broker: Any, tmp_path: Path) -> None:
    recorder = RecorderPlugin()
    plugins.register(recorder, "recorder")
    options = argparse.Namespace(name=None, server=broker.connect, config_dir=tmp_path / "config")
    with Launch(options=options, observers=plugins.observers).client() as client:
        client.join("watcher")
        drained = []
        for event in client.events(timeout=15):
            drained.append(event)
            if isinstance(event, ev.Joined):
                break
    assert drained and isinstance(drained[-1], ev.Joined), drained
    assert recorder.seen == [(client, e) for e in drained]
    assert (tmp_path / "config" / "servers.json").exists()


def test_launch_client_errors_are_the_documented_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZCHAT_DATA_DIR", str(tmp_path / "no-broker"))
    launch = Launch(options=argparse.Namespace(name=None, server=None, config_dir=tmp_path))
    with pytest.raises(NoServer):
        launch.client()
    with pytest.raises(ServerUnusable, match="not a zchat connect string") as bad:
        launch.client("garbage")
    assert isinstance(bad.value, ValueError)
    launch.client(f"tcp://127.0.0.1:9#key={KEY}").close()
    with pytest.raises(ServerKeyChanged):
        launch.client(f"tcp://127.0.0.1:9#key={'cd' * 32}")


# ---------------------------------------------------------------- python -m zchat, end to end

def run_zchat(*args: str, env: dict[str, str] | None = None, fixtures: bool = True,
              stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m zchat ARGS`` with tests/plugins_fixture/site installed (on PYTHONPATH) when ``fixtures``."""
    full = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, TRACE_ENV)}
    if fixtures:
        full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FIXTURE_SITE), full.get("PYTHONPATH")]))
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "zchat", *args], capture_output=True, text=True, env=full,
                          input=stdin, timeout=60, cwd=ROOT)


def rows(output: str) -> dict[str, str]:
    """--list-ui lines by their first word."""
    return {ln.split()[0]: ln for ln in output.splitlines() if ln.strip()}


def test_list_ui_shows_frontends_and_the_broken_plugins_errors() -> None:
    result = run_zchat("--list-ui")
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert "zchat " + zchat.__version__ in table["cli"] and "(default)" in table["cli"]
    assert "zchat-fixture 0.2" in table["fixture-ui"] and "test-only frontend" in table["fixture-ui"]
    assert "zchat-broken 0.1" in table["broken"]
    assert "RuntimeError: this plugin is broken on purpose" in table["broken"]
    assert "unknown hook zchat_regsiter_frontends" in table["typo"]
    assert "typo-ui" not in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_list_plugins_prints_every_loaded_plugin_as_json() -> None:
    result = run_zchat("--list-plugins")
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed["cli"] == {"name": "cli", "distribution": "zchat", "version": zchat.__version__,
                             "hooks": ["zchat_addoption", "zchat_register_frontends"]}
    assert listed["fixture"] == {"name": "fixture", "distribution": "zchat-fixture", "version": "0.2",
                                 "hooks": ["zchat_addoption", "zchat_register_frontends"]}
    assert list(listed)[:2] == ["cli", "tk"]                          # load order: the built-ins first
    assert "broken" not in listed and "typo" not in listed           # not loaded: --list-ui says why


def test_describe_falls_back_to_the_modules_version(plugins: Plugins, shout: ShoutPlugin) -> None:
    recorder = RecorderPlugin()
    recorder.__version__ = "9.9"  # type: ignore[attr-defined]
    plugins.register(recorder, "recorder")
    plugins.register(RaisingPlugin(), "raising")
    assert plugins.describe() == [
        {"name": "undo-shout", "distribution": "zchat-shout", "version": "1.0",
         "hooks": ["zchat_addoption", "zchat_register_frontends"]},
        {"name": "recorder", "distribution": None, "version": "9.9", "hooks": ["zchat_event"]},
        {"name": "raising", "distribution": None, "version": None,
         "hooks": ["zchat_addoption", "zchat_event", "zchat_register_frontends"]}]


def test_cli_still_runs_with_a_broken_plugin_installed(broker: Any, tmp_path: Path) -> None:
    result = run_zchat("--ui", "cli", "--server", broker.connect, "--name", "alice", "--config-dir",
                       str(tmp_path / "c"), stdin="hello\n[EXIT]\n")
    assert result.returncode == 0, result.stderr
    assert "joined as alice" in result.stdout
    assert "plugin 'broken' (zchat-broken 0.1) failed: RuntimeError" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_ui_names_the_known_ones() -> None:
    result = run_zchat("--ui", "nope")
    assert result.returncode == 2
    error = result.stderr.splitlines()[-1]
    assert "unknown --ui 'nope'" in error and "cli" in error and "fixture-ui" in error
    broken = run_zchat("--ui", "broken")
    assert broken.returncode == 2 and "this plugin is broken on purpose" in broken.stderr


def test_plugin_options_reach_the_frontend_and_its_exit_status_is_returned(tmp_path: Path) -> None:
    result = run_zchat("--ui", "fixture-ui", "--name", "zed", "--config-dir", str(tmp_path), "--fixture-status", "7")
    assert result.returncode == 7, result.stderr
    assert f"name=zed server=None config_dir={tmp_path}" in result.stdout


def test_help_explains_the_default_and_lists_plugin_options() -> None:
    result = run_zchat("--help")
    assert result.returncode == 0
    assert "default: cli" in result.stdout and "--fixture-mode" in result.stdout
    assert DISABLE_AUTOLOAD_ENV in result.stdout


@pytest.mark.parametrize("ui", ["fixture-ui", "cli"])
@pytest.mark.parametrize("case", ["bad-string", "no-broker", "key-changed"])
def test_unusable_server_is_one_line_and_exit_2(ui: str, case: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "servers.json").write_text(json.dumps({"tcp://127.0.0.1:9": "cd" * 32}))
    server = {"bad-string": ["--server", "tcp://nowhere"], "no-broker": [],
              "key-changed": ["--server", f"tcp://127.0.0.1:9#key={KEY}"]}[case]
    result = run_zchat("--ui", ui, "--fixture-mode", "client", "--config-dir", str(config), *server,
                       env={"ZCHAT_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2, result
    errors = [ln for ln in result.stderr.splitlines() if not ln.startswith("zchat: warning:")]
    assert len(errors) == 1 and errors[0].startswith("zchat: "), result.stderr
    assert {"bad-string": "not a zchat connect string", "no-broker": "no local broker found",
            "key-changed": "pinned"}[case] in errors[0]


@pytest.mark.parametrize(("args", "idle_after"), [([], 300.0), (["--away-after", "45"], 45.0),
                                                  (["--away-after", "0"], 0.0)])
def test_away_after_reaches_the_client(args: list[str], idle_after: float, tmp_path: Path) -> None:
    from zchat.__main__ import build_parser
    options = build_parser().parse_args([*args, "--server", f"tcp://127.0.0.1:9#key={KEY}",
                                         "--config-dir", str(tmp_path)])
    with Launch(options).client() as client:
        assert client.idle_after == idle_after


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_a_bad_away_after_is_a_usage_error(value: str) -> None:
    result = run_zchat("--ui", "fixture-ui", "--away-after", value)
    assert result.returncode == 2 and "--away-after" in result.stderr, result


def test_keyboard_interrupt_exits_130_quietly() -> None:
    result = run_zchat("--ui", "fixture-ui", "--fixture-mode", "interrupt")
    assert result.returncode == 130
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- environment switches

def test_disable_autoload_keeps_only_the_builtins() -> None:
    result = run_zchat("--list-ui", env={DISABLE_AUTOLOAD_ENV: "1"})
    table = rows(result.stdout)
    assert "cli" in table and "fixture-ui" not in table and "broken" not in table
    assert DISABLE_AUTOLOAD_ENV in result.stdout


@pytest.mark.parametrize("wanted,present,absent", [
    ("fixture", {"cli", "fixture-ui"}, {"broken", "typo"}),             # by entry-point name
    ("zchat-broken", {"cli", "broken", "typo"}, {"fixture-ui"}),        # by distribution name
    ("", {"cli"}, {"fixture-ui", "broken"}),                           # empty: the built-ins only
])
def test_zchat_plugins_loads_only_the_named_ones(wanted: str, present: set[str], absent: set[str]) -> None:
    table = rows(run_zchat("--list-ui", env={PLUGINS_ENV: wanted}).stdout)
    assert present <= set(table) and not absent & set(table), table


def test_zchat_plugins_naming_a_missing_plugin_says_so() -> None:
    table = rows(run_zchat("--list-ui", env={PLUGINS_ENV: "fixture,nosuch"}).stdout)
    assert "fixture-ui" in table and "named in ZCHAT_PLUGINS" in table["nosuch"]


def test_trace_prints_hook_calls() -> None:
    result = run_zchat("--list-ui", env={TRACE_ENV: "1", PLUGINS_ENV: "fixture"})
    assert "zchat-trace: zchat_register_frontends(register)" in result.stderr
    assert "zchat-trace: zchat_addoption(parser)" in result.stderr


# ---------------------------------------------------------------- the example plugin, pip-installed

def test_example_echobot_plugin_is_listed_when_installed() -> None:
    try:
        importlib.metadata.distribution("zchat-echobot")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("zchat-echobot is not installed: `pip install ./plugins/zchat-echobot` (CI does)")
    result = run_zchat("--list-ui", fixtures=False)
    assert re.search(r"^echobot\s+zchat-echobot 0\.1\.0\s+\S", result.stdout, re.MULTILINE), result.stdout
    listed = {p["name"]: p for p in json.loads(run_zchat("--list-plugins", fixtures=False).stdout)}
    assert listed["echobot"] == {"name": "echobot", "distribution": "zchat-echobot", "version": "0.1.0",
                                 "hooks": ["zchat_addoption", "zchat_register_frontends"]}
