import pytest
from django.core.exceptions import ImproperlyConfigured

from masakari_site.env import secret_key_file


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
