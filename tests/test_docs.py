"""The README stays in step with the code."""

from __future__ import annotations

from geo.settings import Settings
from geo.store.layers import LAYERS

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_setting():
    missing = [
        f"WANGGE_{name.upper()}"
        for name in Settings.model_fields
        if f"WANGGE_{name.upper()}" not in README
    ]
    assert missing == []


def test_readme_names_every_import_kind():
    assert [k for k in LAYERS if f"`{k}`" not in README] == []


def test_readme_gives_the_two_commands():
    assert "make demo" in README and "make test" in README


def test_readme_names_every_ogc_collection():
    from geo.ogc import COLLECTIONS

    assert [c for c in COLLECTIONS if c not in README] == []


def test_every_path_the_readme_names_exists():
    """A newcomer follows the README's paths: each one is in the tree (the layout moves)."""
    import re

    named = re.findall(r"`((?:geo|api|maps|tests|bench|fixtures|scripts)/[\w./-]+)`", README)
    assert sorted({p for p in named if not (ROOT / p.split(":")[0]).exists()}) == []
