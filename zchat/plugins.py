"""Finding plugins and calling their hooks, so that one broken plugin is reported, never fatal.

pluggy's ``load_setuptools_entrypoints`` stops at the first entry point that fails to import,
so :func:`load_plugins` walks the ``zchat`` entry-point group itself and loads each entry
point in its own ``try``. Hooks are called plugin by plugin, in load order (built-ins
first), for the same reason: a plugin whose hook raises is recorded as a
:class:`PluginFailure` and the others still run. The built-in frontends are entry points of
the ``zchat`` distribution, so they go through the same door as anyone's.

Environment switches (read by :func:`load_plugins`):
``ZCHAT_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the built-ins; ``ZCHAT_PLUGINS=a,b`` loads the
built-ins plus the named entry points or distributions (empty: built-ins only);
``ZCHAT_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""
from __future__ import annotations

import argparse
import enum
import importlib.metadata
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from zchat import hookspecs
from zchat.errors import ZchatError

if TYPE_CHECKING:
    from zchat.client import Client
    from zchat.events import Event
    from zchat.hookspecs import Frontend

GROUP = "zchat"
BUILTIN_DIST = "zchat"
DISABLE_AUTOLOAD_ENV = "ZCHAT_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "ZCHAT_PLUGINS"
TRACE_ENV = "ZCHAT_TRACE_PLUGINS"
FRONTEND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
Observer = Callable[["Event"], None]


class ServerUnusable(ZchatError, ValueError):
    """The server argument cannot be used (a malformed connect string, an unreadable pin file).
    A ValueError too, so code written against ``Client``'s documented errors still catches it."""


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, or whose hook raised; ``--list-ui`` shows these."""
    plugin: str              # the entry point's name (or the registered plugin name)
    dist: str                # the distribution that provides it ("" if unknown)
    version: str
    error: str               # one line: "ModuleNotFoundError: No module named 'x'"
    where: str = "load"      # "load", or the hook that failed
    traceback: str = ""


@dataclass(frozen=True)
class FrontendInfo:
    """A frontend offered through ``zchat_register_frontends``."""
    name: str
    factory: Callable[[argparse.Namespace], Frontend]
    help: str
    plugin: str
    dist: str
    version: str


class _Unset(enum.Enum):
    OPTIONS = "the --server option"


@dataclass
class Launch:
    """What ``python -m zchat`` hands to ``Frontend.run``: the parsed options, and a way to build a
    client with the plugins' ``zchat_event`` observers wired in.

    ``options`` has at least ``name`` (--name, may be None), ``server`` (--server, None: the
    local default broker) and ``config_dir`` (--config-dir), plus every plugin's options.
    """
    options: argparse.Namespace
    observers: Callable[[Client], list[Observer]] = field(default=lambda client: [])

    def client(self, server: str | None | Literal[_Unset.OPTIONS] = _Unset.OPTIONS) -> Client:
        """A new, not yet joined Client for ``server`` (default: ``options.server``; None: the local
        default broker), using ``options.config_dir``.

        Raises:
            ValueError: a malformed --link code or --device name.
            zchat.keys.NoServer: no server given and no local broker found.
            zchat.keys.ServerKeyChanged: the broker's key differs from the pinned one.
            ServerUnusable: a malformed connect string (also a ValueError).
        """
        from zchat import client_checks as check
        from zchat.client import Client  # here, so importing zchat.plugins pulls in no sockets
        from zchat.session_features import IDLE_AFTER
        if server is _Unset.OPTIONS:
            server = getattr(self.options, "server", None)
        link, device = getattr(self.options, "link", None), getattr(self.options, "device", None)
        check.link_code(link)                  # a bad option is a ValueError of its own, not a bad server
        if device is not None:
            check.name(device, "device name")
        try:
            client = Client(server, config_dir=getattr(self.options, "config_dir", None), link=link, device=device,
                            idle_after=getattr(self.options, "away_after", IDLE_AFTER))
        except ValueError as exc:
            if isinstance(exc, ZchatError):
                raise
            raise ServerUnusable(f"cannot use server {server!r}: {exc}") from exc
        client.observers.extend(self.observers(client))
        return client


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows zchat's hooks and holds no plugins (a fresh one per test)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "", ""
    return dist.metadata["Name"] or dist.name, dist.version


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0]


class Plugins:
    """The plugin manager plus what zchat learned loading it: failures and who provides what.

    Build it with :func:`load_plugins`; tests may register in-test plugins with :meth:`register`.
    """

    def __init__(self, pm: pluggy.PluginManager | None = None, *, trace: bool = False) -> None:
        self.pm = pm or new_plugin_manager()
        self.failures: list[PluginFailure] = []
        self.dists: dict[str, tuple[str, str]] = {}    # plugin name -> (distribution, version)
        self.notes: list[str] = []                     # why some installed plugins were not loaded
        self.trace = trace
        if trace:
            self.pm.add_hookcall_monitoring(_trace_before, _trace_after)

    # ---------------------------------------------------------------- registering
    def register(self, plugin: object, name: str, dist: str = "", version: str = "") -> bool:
        """Register ``plugin`` (a module or object with hookimpls); False, with a failure recorded,
        if pluggy refuses it or it implements a hook that does not exist (a typo)."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(name, "load", exc, dist, version)
            return False
        unknown = sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or []
                         if hc.spec is None and any(i.plugin is plugin and not i.optionalhook
                                                    for i in hc.get_hookimpls()))
        if unknown:
            self.pm.unregister(plugin)
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("zchat_")))
            self._record(PluginFailure(name, dist, version, f"unknown hook {', '.join(unknown)} "
                                       f"(a typo? zchat's hooks are: {known})"))
            return False
        self.dists[name] = (dist, version)
        return True

    def load_entrypoint(self, ep: importlib.metadata.EntryPoint) -> bool:
        """Import one entry point and register it; any error is recorded, not raised."""
        dist, version = _dist_of(ep)
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:
            self._fail(ep.name, "load", exc, dist, version)
            return False
        return self.register(plugin, ep.name, dist, version)

    def _fail(self, plugin: str, where: str, exc: BaseException, dist: str | None = None,
              version: str | None = None) -> None:
        if dist is None:
            dist, version = self.dists.get(plugin, ("", ""))
        self._record(PluginFailure(plugin, dist, version or "", _one_line(exc), where,
                                   "".join(traceback.format_exception(exc))))

    def _record(self, failure: PluginFailure) -> None:
        """Keep one record per failure, however often a hook is called (``frontends()`` twice, say)."""
        seen = {(f.plugin, f.where, f.error) for f in self.failures}
        if (failure.plugin, failure.where, failure.error) not in seen:
            self.failures.append(failure)

    def describe(self) -> list[dict[str, Any]]:
        """Every loaded plugin, in load order, as ``--list-plugins`` prints it: its name, the
        distribution and version that provide it (the module's ``__version__`` when there is no
        distribution; None when neither is known) and the hooks it implements."""
        out: list[dict[str, Any]] = []
        for name, plugin in self.pm.list_name_plugin():
            dist, known = self.dists.get(name, ("", ""))
            version: str | None = known or getattr(plugin, "__version__", None)
            hooks = sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or [])
            out.append({"name": name, "distribution": dist or None, "version": version or None, "hooks": hooks})
        return out

    # ---------------------------------------------------------------- calling hooks, one plugin at a time
    def _each(self, hook: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        """(plugin name, a caller of ``hook`` for that plugin alone), in load order."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            others = [p for p in self.pm.get_plugins() if p is not impl.plugin]
            yield impl.plugin_name, self.pm.subset_hook_caller(hook, remove_plugins=others)

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """Call ``zchat_addoption`` for each plugin; a plugin that raises (say, a clashing option) is recorded."""
        for name, call in self._each("zchat_addoption"):
            try:
                call(parser=parser)
            except Exception as exc:
                self._fail(name, "zchat_addoption", exc)

    def frontends(self) -> dict[str, FrontendInfo]:
        """Every frontend offered through ``zchat_register_frontends``, by name; the first plugin
        to offer a name keeps it, and a later one is recorded as a failure."""
        found: dict[str, FrontendInfo] = {}
        for plugin, call in self._each("zchat_register_frontends"):
            dist, version = self.dists.get(plugin, ("", ""))

            def register(name: str, factory: Callable[[argparse.Namespace], Frontend], *, help: str,
                         _plugin: str = plugin, _dist: str = dist, _version: str = version) -> None:
                if not isinstance(name, str) or not FRONTEND_NAME.fullmatch(name):
                    raise ValueError(f"frontend name {name!r}: letters, digits, '_', '.' or '-' expected")
                if not callable(factory):
                    raise TypeError(f"frontend {name!r}: factory {factory!r} is not callable")
                if name in found:
                    other = found[name]
                    self._record(PluginFailure(
                        _plugin, _dist, _version, f"frontend name {name!r} is taken by plugin {other.plugin!r} "
                        f"({other.dist or 'no distribution'}); this one is ignored", "zchat_register_frontends"))
                    return
                found[name] = FrontendInfo(name, factory, str(help), _plugin, _dist, _version)

            try:
                call(register=register)
            except Exception as exc:
                self._fail(plugin, "zchat_register_frontends", exc)
        return found

    def observers(self, client: Client) -> list[Observer]:
        """The observers ``Launch.client`` adds to each client: ``zchat_event`` for every plugin that
        implements it, and ``zchat_notification`` for every Notification. A plugin that raises is
        reported once on stderr and not called again (for that hook)."""
        from zchat.events import Notification  # here: importing zchat.plugins stays cheap
        out: list[Observer] = []
        for hook, argument, wanted in (("zchat_event", "event", None), ("zchat_notification", "notification",
                                                                         Notification)):
            live = list(self._each(hook))
            if live:
                out.append(self._observer(client, hook, argument, wanted, live))
        return out

    def _observer(self, client: Client, hook: str, argument: str, wanted: type | None,
                  live: list[tuple[str, Callable[..., Any]]]) -> Observer:
        def observe(event: Event) -> None:
            if wanted is not None and not isinstance(event, wanted):
                return
            for entry in list(live):
                name, call = entry
                try:
                    call(client=client, **{argument: event})
                except Exception as exc:
                    live.remove(entry)
                    self._fail(name, hook, exc)
                    hint = self.failures[-1].traceback if self.trace else f"(set {TRACE_ENV}=1 for the traceback)"
                    print(f"zchat: plugin {name!r} raised in {hook} and is switched off: {_one_line(exc)} "
                          f"{hint}", file=sys.stderr)
        return observe


def _trace_before(hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
    plugins = ", ".join(i.plugin_name for i in hook_impls)
    print(f"zchat-trace: {hook_name}({', '.join(kwargs)}) -> [{plugins}]", file=sys.stderr)


def _trace_after(outcome: Any, hook_name: str, hook_impls: Sequence[pluggy.HookImpl],
                 kwargs: Mapping[str, Any]) -> None:
    exc = outcome.exception
    print(f"zchat-trace: {hook_name} {'raised ' + _one_line(exc) if exc else 'returned ' + repr(outcome.get_result())}",
          file=sys.stderr)


def _selected(eps: list[importlib.metadata.EntryPoint], env: Mapping[str, str],
              plugins: Plugins) -> list[importlib.metadata.EntryPoint]:
    """The entry points the environment switches allow, built-ins first, then by distribution and name."""
    def builtin(ep: importlib.metadata.EntryPoint) -> bool:
        return _canonical(_dist_of(ep)[0]) == BUILTIN_DIST

    eps = sorted(eps, key=lambda ep: (not builtin(ep), _canonical(_dist_of(ep)[0]), ep.name))
    wanted_raw = env.get(PLUGINS_ENV)
    if wanted_raw is not None:
        wanted = {_canonical(w) for w in wanted_raw.split(",") if w.strip()}
        keep = [ep for ep in eps if builtin(ep) or _canonical(ep.name) in wanted
                or _canonical(_dist_of(ep)[0]) in wanted]
        found = {_canonical(ep.name) for ep in eps} | {_canonical(_dist_of(ep)[0]) for ep in eps}
        for missing in sorted(wanted - found):
            plugins.failures.append(PluginFailure(missing, "", "", f"named in {PLUGINS_ENV} but no entry point "
                                                  f"or distribution of that name is in group {GROUP!r}"))
        plugins.notes.append(f"{PLUGINS_ENV}={wanted_raw!r}: loaded the built-ins and the plugins it names")
        return keep
    if _truthy(env.get(DISABLE_AUTOLOAD_ENV)):
        plugins.notes.append(f"{DISABLE_AUTOLOAD_ENV} is set: loaded the built-ins only")
        return [ep for ep in eps if builtin(ep)]
    return eps


def load_plugins(load_entrypoints: bool = True, *, environ: Mapping[str, str] | None = None) -> Plugins:
    """A fresh :class:`Plugins` (never a module global): the ``zchat`` entry points that the
    environment switches allow, each loaded and registered on its own so failures are recorded,
    then ``check_pending``. ``load_entrypoints=False`` gives an empty one (for tests)."""
    env = os.environ if environ is None else environ
    plugins = Plugins(trace=_truthy(env.get(TRACE_ENV)))
    if load_entrypoints:
        for ep in _selected(list(importlib.metadata.entry_points(group=GROUP)), env, plugins):
            plugins.load_entrypoint(ep)
    plugins.pm.check_pending()   # register() already refused unknown hooks, so this only guards that
    return plugins
