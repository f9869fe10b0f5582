"""Test-only: a frontend plugin whose behaviour ``--fixture-mode`` picks, to test ``python -m zchat``."""
from __future__ import annotations

import argparse

import zchat


class FixtureUI:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options

    def run(self, launch: zchat.Launch) -> int:
        o = self.options
        if o.fixture_mode == "interrupt":
            raise KeyboardInterrupt
        if o.fixture_mode == "client":
            with launch.client() as client:
                print(f"client for {client.endpoint}", flush=True)
        print(f"name={o.name} server={o.server} config_dir={o.config_dir}", flush=True)
        return o.fixture_status


@zchat.hookimpl
def zchat_addoption(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fixture-mode", choices=["ok", "client", "interrupt"], default="ok",
                        help="fixture-ui: what to do")
    parser.add_argument("--fixture-status", type=int, default=0, help="fixture-ui: the exit status")


@zchat.hookimpl
def zchat_register_frontends(register: zchat.RegisterFrontend) -> None:
    register("fixture-ui", FixtureUI, help="test-only frontend")
