"""The built wheels: what the core distribution and the example plugin declare and contain."""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "tests" / "plugin"
FIRST_PARTY = ("huey", "rq", "celery", "kombu")


def build_wheel(source: Path, outdir: Path) -> Path:
    """Build ``source``'s wheel into ``outdir`` with the installed hatchling; return its path."""
    if importlib.util.find_spec("build") is not None:
        command = ["-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir)]
    else:  # `build` is in the test extra, but pip alone can do it too
        command = ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(outdir)]
    done = subprocess.run(
        [sys.executable, *command, str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = outdir.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The queuekit wheel built from this checkout."""
    return build_wheel(ROOT, tmp_path_factory.mktemp("core"))


@pytest.fixture(scope="module")
def plugin_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The queuekit-spool wheel built from tests/plugin."""
    return build_wheel(PLUGIN, tmp_path_factory.mktemp("plugin"))


def dist_info(wheel: Path) -> tuple[list[str], Message, configparser.ConfigParser]:
    """The wheel's file names, its METADATA and its entry_points.txt."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        folder = metadata_name.rsplit("/", 1)[0]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
        entry_points = configparser.ConfigParser(delimiters=("=",))
        entry_points.optionxform = str  # keep the case of names
        entry_points.read_string(archive.read(f"{folder}/entry_points.txt").decode())
    return names, metadata, entry_points


def requirements_for(metadata: Message, extra: str | None) -> list[str]:
    """The Requires-Dist entries that apply with ``extra`` (None: with no extra), markers dropped."""
    found = []
    for text in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        applies = (
            marker is None
            if extra is None
            else (marker is not None and marker.evaluate({"extra": extra}))
        )
        if applies:
            requirement.marker = None
            found.append(str(requirement))
    return sorted(found)


def test_core_wheel_contains_only_the_typed_package(core_wheel: Path) -> None:
    """The core wheel ships queuekit with py.typed and the memory backend, and nothing else."""
    names, metadata, _ = dist_info(core_wheel)
    assert metadata["Name"] == "queuekit"
    for required in ("queuekit/py.typed", "queuekit/cli.py", "queuekit/backends/memory.py"):
        assert required in names
    dist = f"queuekit-{metadata['Version']}.dist-info/"
    assert [n for n in names if not n.startswith(("queuekit/", dist))] == []


def test_core_wheel_declares_entry_points(core_wheel: Path) -> None:
    """The core wheel declares the `queuekit` console script and the `memory` backend entry point."""
    _, _, entry_points = dist_info(core_wheel)
    assert entry_points["console_scripts"]["queuekit"].strip() == "queuekit.cli:main"
    backends = dict(entry_points["queuekit.backends"])
    assert backends["memory"].strip() == "queuekit.backends.memory:MemoryQueue"
    assert not set(backends) & set(FIRST_PARTY), "first-party backends belong to their siblings"


def test_core_wheel_requires_nothing_and_pins_sibling_extras(core_wheel: Path) -> None:
    """The core requires no third-party package; each engine extra pins its sibling at the same version."""
    _, metadata, _ = dist_info(core_wheel)
    version = metadata["Version"]
    assert requirements_for(metadata, None) == []
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {*FIRST_PARTY, "all"} <= extras
    for name in FIRST_PARTY:
        assert requirements_for(metadata, name) == [f"queuekit-{name}=={version}"]
    assert requirements_for(metadata, "all") == sorted(
        f"queuekit-{name}=={version}" for name in FIRST_PARTY
    )


def test_plugin_wheel_declares_its_backend(plugin_wheel: Path) -> None:
    """The example plugin's wheel declares `spool` in queuekit.backends and requires queuekit."""
    names, metadata, entry_points = dist_info(plugin_wheel)
    assert (metadata["Name"], metadata["Version"]) == ("queuekit-spool", "0.1.0")
    assert "queuekit_spool/__init__.py" in names
    assert dict(entry_points["queuekit.backends"]) == {"spool": "queuekit_spool:SpoolQueue"}
    assert requirements_for(metadata, None) == ["queuekit"]


def test_installed_wheels_work_without_the_checkout(
    core_wheel: Path, plugin_wheel: Path, tmp_path: Path
) -> None:
    """Installed from the wheels alone, the `queuekit` script finds memory and the spool plugin."""
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    install = subprocess.run(
        [*pip, "--target", str(target), str(core_wheel), str(plugin_wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr
    # -S: no site-packages, so neither the editable checkout nor anything else is importable.
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    script = target / "bin" / "queuekit"
    done = subprocess.run(
        [sys.executable, "-S", str(script), "backends"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[:4] for line in done.stdout.splitlines() if line}
    assert rows["memory"] == ["memory", "queuekit", "0.1.0", "ok"]
    assert rows["spool"] == ["spool", "queuekit-spool", "0.1.0", "ok"]
    where = subprocess.run(
        [sys.executable, "-S", "-c", "import queuekit; print(queuekit.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(target), where.stderr
