import json
import os
import re
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from masakari_site.env import secret_key_file
from testing import ROOT


def test_a_missing_secret_key_is_made_once_random_and_private(tmp_path):
    path = tmp_path / "var" / "secret-key"
    first = secret_key_file(path)
    assert len(first) >= 50 and secret_key_file(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert secret_key_file(tmp_path / "other") != first
    assert [p.name for p in path.parent.iterdir()] == ["secret-key"]


def test_an_unusable_secret_key_file_stops_the_start(tmp_path):
    path = tmp_path / "secret-key"
    path.write_text("short\n")
    with pytest.raises(ImproperlyConfigured, match="secret-key"):
        secret_key_file(path)


def _engine_setting_names() -> list[str]:
    source = (ROOT / "masakari_site" / "settings.py").read_text()
    section = source.split("# (engine settings: begin)")[1].split("# (engine settings: end)")[0]
    return re.findall(r"^([A-Z][A-Z0-9_]+) = env_", section, flags=re.M)


def _readme_defaults() -> dict[str, str]:
    """README table rows `| `A` / `B` | `1` / `2` | … |` as {A: "`1`", B: "`2`"}."""
    defaults = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = [name.strip().strip("`") for name in cells[0].split(" / ")]
            values = [value.strip() for value in cells[1].split(" / ")]
            if len(names) == len(values):
                defaults.update(zip(names, values, strict=True))
    return defaults


def test_every_engine_setting_is_in_the_readme_with_its_real_default():
    names = _engine_setting_names()
    assert len(names) > 20
    env = {k: v for k, v in os.environ.items() if k not in names}
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={**env, "DJANGO_SETTINGS_MODULE":
                                            "masakari_site.settings"}, check=True)
    actual = json.loads(result.stdout)

    def shown(value) -> str:
        if isinstance(value, bool):
            return "`true`" if value else "`false`"
        return f"`{value}`" if value != "" else "–"

    documented = _readme_defaults()
    assert {name: documented.get(name) for name in names} == \
        {name: shown(actual[name]) for name in names}
