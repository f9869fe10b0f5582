"""The package says what it is: the licence file matches the licence setup.cfg declares, and the
installed distribution's metadata carries it (``pip install`` of a clean clone, as .ci/run does)."""
from __future__ import annotations

import configparser
import importlib.metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_the_licence_file_is_the_declared_mit_licence() -> None:
    meta = setup_cfg()["metadata"]
    assert meta["license"] == "MIT"
    assert meta["license_files"].split() == ["LICENSE"]
    assert "License :: OSI Approved :: MIT License" in meta["classifiers"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the zchat authors" in text
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_the_installed_metadata_carries_the_licence_file() -> None:
    """Every zchat metadata found (the site-packages dist-info; with an editable install also the
    egg-info beside setup.cfg) names the file, and the installed one ships a copy of it."""
    dists = list(importlib.metadata.distributions(name="zchat"))
    assert dists
    for dist in dists:
        assert dist.metadata["License"] == "MIT"
        assert dist.metadata.get_all("License-File") == ["LICENSE"], "pip install -e . again after editing setup.cfg"
    # metadata 2.4 keeps it under licenses/, older metadata beside the rest
    shipped = [dist.read_text("licenses/LICENSE") or dist.read_text("LICENSE") for dist in dists]
    assert (ROOT / "LICENSE").read_text() in shipped
