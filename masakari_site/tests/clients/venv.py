"""The real Masakari clients, installed from PyPI into a virtualenv of their own.

They must not share the application's virtualenv: operators install them
apart from the server, with their own versions of openstacksdk and
keystoneauth. The virtualenv lives in `var/clients-venv` and is kept between
runs while its stamp (the requirements and the Python version) still matches.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from testing import ROOT

CLIENT_REQUIREMENTS = (
    "openstacksdk==4.22.0",
    "python-openstackclient==10.5.0",
    "python-masakariclient==8.9.0",
    # No libvirt-python among its requirements: it installs as it is.
    "masakari-monitors==22.0.0",
    # What openstacksdk's own functional tests import (testtools, fixtures).
    "oslotest==6.1.1",
)
VENV_DIR = ROOT / "var" / "clients-venv"
STAMP_NAME = ".requirements-stamp"
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class ClientsVenv:
    path: Path

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)

    @property
    def python(self) -> str:
        return self.bin("python")


def requirements_stamp() -> str:
    text = "\n".join((sys.version, *CLIENT_REQUIREMENTS))
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_clients_venv(path: Path = VENV_DIR) -> ClientsVenv:
    """The clients' virtualenv, built first if missing or stale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp_file = path / STAMP_NAME
    # Two test runs at once must not build into the same folder.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp_file.exists() and stamp_file.read_text() == requirements_stamp()):
            _build(path)
            stamp_file.write_text(requirements_stamp())
    return ClientsVenv(path)


def _build(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(path)])
    _run([str(path / "bin" / "pip"), "install", "--quiet", *CLIENT_REQUIREMENTS])


def _run(command: list[str]) -> None:
    # Not the app venv's variables: the clients' pip and python are on their own.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    result = subprocess.run(command, capture_output=True, text=True, env=env,
                            timeout=INSTALL_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
