"""The backend registry: aliases, class paths, in-process registrations and entry points."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from queuekit import registry
from queuekit.backends.memory import MemoryQueue
from queuekit.base import BaseQueue
from queuekit.envelope import Envelope
from queuekit.exceptions import (
    BackendImportError,
    BackendNotFound,
    ConfigurationError,
    DuplicateBackend,
)
from queuekit.registry import available_backends, get_backend, register_backend, unregister_backend

BACKEND_CLASS = textwrap.dedent(
    """
    from queuekit.base import BaseQueue

    class PluginQueue(BaseQueue):
        backend_name = "plugin"
        supports_delay = True

        def _send(self, envelope):
            pass

    NotAQueue = dict
    """
)


class LocalQueue(BaseQueue):
    """A backend registered in-process by tests."""

    backend_name: ClassVar[str] = "local"

    def _send(self, envelope: Envelope) -> None:
        pass


class OtherLocalQueue(LocalQueue):
    """A second in-process backend class."""


@pytest.fixture
def in_process() -> Iterator[list[str]]:
    """Names registered with register_backend during the test; unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        unregister_backend(name)


Maker = Callable[..., str]


@pytest.fixture
def distributions(tmp_path: Path) -> Iterator[Maker]:
    """Write fake installed distributions onto sys.path; everything is rescanned and removed after.

    ``make(dist, entry_points={alias: target}, modules={name: source})`` returns a unique suffix
    already substituted for ``{u}`` in aliases, targets and module names.
    """
    created: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))

        def make(
            dist: str,
            entry_points: dict[str, str],
            modules: dict[str, str] | None = None,
            u: str | None = None,
        ) -> str:
            u = u or uuid.uuid4().hex[:8]
            info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8"
            )
            lines = [f"{a.format(u=u)} = {t.format(u=u)}" for a, t in entry_points.items()]
            (info / "entry_points.txt").write_text(
                "[queuekit.backends]\n" + "\n".join(lines) + "\n", encoding="utf-8"
            )
            for name, source in (modules or {}).items():
                module = name.format(u=u)
                created.append(module)
                (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
            importlib.invalidate_caches()
            registry._entry_points(rescan=True)
            return u

        yield make
    for module in created:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()
    registry._entry_points(rescan=True)


# -- aliases and class paths ------------------------------------------------------------------


def test_memory_alias_resolves_through_its_entry_point() -> None:
    """'memory' is found through the core's own entry point."""
    assert get_backend("memory") is MemoryQueue
    assert get_backend("  memory  ") is MemoryQueue


@pytest.mark.parametrize(
    "path", ["queuekit.backends.memory.MemoryQueue", "queuekit.backends.memory:MemoryQueue"]
)
def test_class_paths_resolve_with_dot_or_colon(path: str) -> None:
    """A dotted path and a module:Class path both resolve to the class."""
    assert get_backend(path) is MemoryQueue


def test_a_backend_class_passes_through() -> None:
    """Passing a BaseQueue subclass returns it unchanged."""
    assert get_backend(LocalQueue) is LocalQueue


def test_a_class_that_is_not_a_backend_is_refused() -> None:
    """A class that is not a BaseQueue subclass is refused, saying what to point at."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "'dict' resolves to <class 'dict'>, which is not a queuekit.BaseQueue subclass; "
            "point the configuration at a backend class."
        ),
    ):
        get_backend(dict)  # type: ignore[arg-type]


def test_unknown_alias_gets_did_you_mean_and_the_known_backends() -> None:
    """A misspelt alias suggests the right one and lists the known backends."""
    with pytest.raises(
        BackendNotFound,
        match=r"No such backend: 'memroy'\. Did you mean 'memory'\? Known backends: .*memory.*; "
        r"a class path like 'package\.module:Class' works too\.",
    ):
        get_backend("memroy")


def test_misspelt_first_party_alias_is_suggested_even_when_not_installed() -> None:
    """'hueyy' suggests 'huey' (kombu-style), whether or not huey is installed."""
    with pytest.raises(BackendNotFound, match=r"No such backend: 'hueyy'\. Did you mean 'huey'\?"):
        get_backend("hueyy")


def test_alias_resembling_nothing_gets_no_suggestion() -> None:
    """An alias close to nothing lists the known backends without a guess."""
    with pytest.raises(
        BackendNotFound, match=re.escape("No such backend: 'zzzzzz'. Known backends:")
    ) as info:
        get_backend("zzzzzz")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize("alias", sorted(registry.FIRST_PARTY))
def test_first_party_alias_not_installed_says_what_to_install(alias: str) -> None:
    """A first-party backend that is not installed names the pip extra to install."""
    if alias in registry._entry_points(rescan=True):
        pytest.skip(f"queuekit-{alias} is installed here")
    with pytest.raises(
        BackendNotFound,
        match=re.escape(
            f"Backend {alias!r} is not installed. Install it with: pip install 'queuekit[{alias}]'"
        ),
    ):
        get_backend(alias)


@pytest.mark.parametrize("name", ["", "   ", None, 42])
def test_empty_or_non_string_names_are_refused(name: object) -> None:
    """An empty or non-string backend name is refused, listing the known aliases."""
    with pytest.raises(
        BackendNotFound,
        match=re.escape(
            f"A backend must be named by an alias or a class path, got {name!r}; known aliases:"
        ),
    ):
        get_backend(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", [":Queue", "pkg.mod:", "pkg.mod."])
def test_malformed_class_path_says_what_it_must_look_like(path: str) -> None:
    """A class path missing its module or class shows the two accepted forms."""
    with pytest.raises(
        BackendNotFound,
        match=re.escape(
            f"Backend class path {path!r} must name a module and a class, like "
            f"'package.module.Class' or 'package.module:Class'."
        ),
    ):
        get_backend(path)


def test_class_path_with_missing_module_names_the_module() -> None:
    """A class path into a module that does not exist says which module cannot be found."""
    with pytest.raises(
        BackendNotFound,
        match=re.escape(
            "No backend class 'nonexistent_pkg_zz.sub.Queue': module 'nonexistent_pkg_zz.sub' "
            "cannot be found (no module named 'nonexistent_pkg_zz')."
        ),
    ):
        get_backend("nonexistent_pkg_zz.sub.Queue")


def test_class_path_with_missing_class_suggests_the_module_backends() -> None:
    """A class path naming a missing attribute suggests a backend class of that module."""
    with pytest.raises(
        BackendNotFound,
        match=re.escape(
            "No backend class 'queuekit.backends.memory:MemoryQueu': module "
            "'queuekit.backends.memory' has no attribute 'MemoryQueu'. Did you mean 'MemoryQueue'?"
        ),
    ):
        get_backend("queuekit.backends.memory:MemoryQueu")


def test_class_path_to_something_else_is_refused() -> None:
    """A class path to a non-backend object says it is not a BaseQueue subclass."""
    with pytest.raises(
        ConfigurationError,
        match=r"'queuekit\.registry\.GROUP' resolves to 'queuekit\.backends', which is not a queuekit\.BaseQueue subclass",
    ):
        get_backend("queuekit.registry.GROUP")


@pytest.mark.parametrize(
    "path",
    ["privacyidea.lib.queues.huey_queue.HueyQueue", "edumfa.lib.queues.huey_queue.HueyQueue"],
)
def test_legacy_privacyidea_and_edumfa_paths_name_their_replacement(path: str) -> None:
    """The huey class paths of privacyIDEA and eduMFA point at queuekit's replacement."""
    with pytest.raises(
        BackendNotFound,
        match=re.escape(f"No backend class {path!r}: module")
        + r".*"
        + re.escape("queuekit replaces it with 'queuekit_huey.HueyQueue'."),
    ):
        get_backend(path)


def test_first_party_class_path_not_installed_says_what_to_install() -> None:
    """'queuekit_huey.HueyQueue' without queuekit-huey names pip install 'queuekit[huey]'."""
    if "huey" in registry._entry_points(rescan=True):
        pytest.skip("queuekit-huey is installed here")
    with pytest.raises(BackendNotFound) as info:
        get_backend("queuekit_huey.HueyQueue")
    assert "pip install 'queuekit[huey]'" in str(info.value)
    assert "Did you mean 'queuekit_huey.HueyQueue'" not in str(info.value)


def test_url_given_as_backend_name_does_not_leak_its_password() -> None:
    """A URL mistakenly configured as the backend never shows its password in the error."""
    with pytest.raises(ConfigurationError) as info:
        get_backend("redis://user:hunter2@cache:6379/0")
    assert "hunter2" not in str(info.value)


def test_class_path_whose_module_lacks_a_dependency_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend module importing a missing library raises BackendImportError naming it, chained."""
    module = f"qk_needs_dep_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("import qk_missing_engine_zz\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        BackendImportError,
        match=re.escape(
            f"Backend class '{module}.Queue' needs the module 'qk_missing_engine_zz', which is "
            f"not installed."
        ),
    ) as info:
        get_backend(f"{module}.Queue")
    assert info.value.name == "qk_missing_engine_zz"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert isinstance(info.value, ImportError)


def test_class_path_whose_module_raises_import_error_is_not_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ImportError raised inside the backend module is re-raised chained, not called not-found."""
    module = f"qk_broken_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "raise ImportError('libengine.so: cannot open shared object file')\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        BackendImportError,
        match=re.escape(
            f"Importing backend class '{module}:Queue' failed: libengine.so: cannot open shared "
            f"object file"
        ),
    ) as info:
        get_backend(f"{module}:Queue")
    assert not isinstance(info.value, BackendNotFound)
    assert str(info.value.__cause__) == "libengine.so: cannot open shared object file"


# -- in-process registration ------------------------------------------------------------------------


def test_register_backend_makes_an_alias_available(in_process: list[str]) -> None:
    """A registered class is found by its alias and listed among the backends."""
    register_backend("local-test", LocalQueue)
    in_process.append("local-test")
    assert get_backend("local-test") is LocalQueue
    row = available_backends()["local-test"]
    assert (row.installed, row.importable, row.distribution) == (True, True, None)
    assert row.target.endswith(":LocalQueue")
    assert row.capabilities["delay"] is False


def test_register_backend_twice_with_another_class_fails_loudly(in_process: list[str]) -> None:
    """Registering a different class under a taken alias raises, naming it and the fix."""
    register_backend("local-dup", LocalQueue)
    in_process.append("local-dup")
    register_backend("local-dup", LocalQueue)  # the same class again is fine
    with pytest.raises(
        DuplicateBackend,
        match=r"Backend 'local-dup' is already registered in this process as "
        r"[\w.]*test_registry\.LocalQueue; pass replace=True to override it\.",
    ):
        register_backend("local-dup", OtherLocalQueue)
    register_backend("local-dup", OtherLocalQueue, replace=True)
    assert get_backend("local-dup") is OtherLocalQueue


def test_register_backend_refuses_non_backends() -> None:
    """Only BaseQueue subclasses can be registered."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "'bad' resolves to <class 'int'>, which is not a queuekit.BaseQueue subclass"
        ),
    ):
        register_backend("bad", int)  # type: ignore[arg-type]


def test_in_process_registration_shadows_an_entry_point(in_process: list[str]) -> None:
    """An in-process registration wins over an installed alias; unregistering restores it."""
    register_backend("memory", LocalQueue)
    in_process.append("memory")
    assert get_backend("memory") is LocalQueue
    unregister_backend("memory")
    assert get_backend("memory") is MemoryQueue


def test_unregister_of_an_unknown_name_is_harmless() -> None:
    """unregister_backend of a name never registered does nothing."""
    unregister_backend("never-registered")
    with pytest.raises(BackendNotFound):
        get_backend("never-registered")


# -- entry points from installed distributions -------------------------------------------------


def test_plugin_entry_point_is_loaded_lazily(distributions: Maker) -> None:
    """A third-party alias resolves to its class, imported only when asked for."""
    u = distributions(
        "qk-plugin-a", {"plug{u}": "qk_plug_{u}:PluginQueue"}, {"qk_plug_{u}": BACKEND_CLASS}
    )
    assert f"qk_plug_{u}" not in sys.modules
    assert f"plug{u}" in registry._entry_points()
    assert f"qk_plug_{u}" not in sys.modules
    cls = get_backend(f"plug{u}")
    assert cls.__name__ == "PluginQueue" and issubclass(cls, BaseQueue)


def test_duplicate_alias_from_two_distributions_names_both(distributions: Maker) -> None:
    """Two distributions declaring one alias raise DuplicateBackend naming both and the fix."""
    u = uuid.uuid4().hex[:8]
    distributions(
        "qk-dist-one", {"dupe{u}": "qk_one_{u}:PluginQueue"}, {"qk_one_{u}": BACKEND_CLASS}, u=u
    )
    distributions(
        "qk-dist-two", {"dupe{u}": "qk_two_{u}:PluginQueue"}, {"qk_two_{u}": BACKEND_CLASS}, u=u
    )
    with pytest.raises(DuplicateBackend) as info:
        get_backend(f"dupe{u}")
    message = str(info.value)
    assert message.startswith(f"Backend alias 'dupe{u}' is declared by two distributions: ")
    assert f"qk-dist-one (qk_one_{u}:PluginQueue)" in message
    assert f"qk-dist-two (qk_two_{u}:PluginQueue)" in message
    assert message.endswith("Uninstall one, or configure the class path of the one you want.")
    assert f"qk_one_{u}" not in sys.modules and f"qk_two_{u}" not in sys.modules
    assert get_backend(f"qk_two_{u}:PluginQueue").__name__ == "PluginQueue"


def test_import_error_inside_an_entry_point_module_is_chained_not_masked(
    distributions: Maker,
) -> None:
    """An ImportError raised by the plugin module is re-raised chained, not reported as not found."""
    u = distributions(
        "qk-broken",
        {"broken{u}": "qk_broken_{u}:PluginQueue"},
        {"qk_broken_{u}": "from os import no_such_name_zz\n"},
    )
    with pytest.raises(
        BackendImportError,
        match=re.escape(
            f"Importing backend 'broken{u}' from 'qk_broken_{u}:PluginQueue' (qk-broken) failed: cannot import name 'no_such_name_zz'"
        ),
    ) as info:
        get_backend(f"broken{u}")
    assert not isinstance(info.value, BackendNotFound)
    assert isinstance(info.value.__cause__, ImportError)
    assert "no_such_name_zz" in str(info.value.__cause__)


def test_missing_dependency_of_a_first_party_plugin_names_the_extra(distributions: Maker) -> None:
    """A first-party alias whose engine library is missing says pip install 'queuekit[huey]'."""
    u = distributions(
        "queuekit-huey",
        {"huey": "qk_fake_huey_{u}:PluginQueue"},
        {"qk_fake_huey_{u}": "import qk_engine_not_installed_zz\n"},
    )
    with pytest.raises(
        BackendImportError,
        match=re.escape(
            "Backend 'huey' (from queuekit-huey) needs the module 'qk_engine_not_installed_zz', "
            "which is not installed. Install it with: pip install 'queuekit[huey]'"
        ),
    ) as info:
        get_backend("huey")
    assert info.value.name == "qk_engine_not_installed_zz"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert f"qk_fake_huey_{u}" not in sys.modules


def test_missing_dependency_of_a_third_party_plugin_names_its_distribution(
    distributions: Maker,
) -> None:
    """A third-party alias whose dependency is missing names pip install queuekit-<alias>."""
    u = distributions(
        "qk-needs",
        {"needs{u}": "qk_needs_{u}:PluginQueue"},
        {"qk_needs_{u}": "import qk_engine_not_installed_zz\n"},
    )
    with pytest.raises(
        BackendImportError, match=re.escape(f"Install it with: pip install queuekit-needs{u}")
    ):
        get_backend(f"needs{u}")


def test_entry_point_to_a_missing_module_says_reinstall(distributions: Maker) -> None:
    """An entry point whose own module is absent says the distribution is broken and to reinstall."""
    u = distributions("qk-hollow", {"hollow{u}": "qk_hollow_{u}.impl:PluginQueue"})
    with pytest.raises(
        BackendImportError,
        match=re.escape(
            f"Backend 'hollow{u}' is declared by qk-hollow as 'qk_hollow_{u}.impl:PluginQueue', "
            f"but module 'qk_hollow_{u}.impl' does not exist; reinstall it: pip install "
            f"--force-reinstall qk-hollow."
        ),
    ):
        get_backend(f"hollow{u}")


def test_entry_point_to_a_missing_class_says_it_does_not_exist(distributions: Maker) -> None:
    """An entry point naming an attribute its module lacks says so, naming the distribution."""
    u = distributions(
        "qk-noattr", {"noattr{u}": "qk_noattr_{u}:Missing"}, {"qk_noattr_{u}": BACKEND_CLASS}
    )
    with pytest.raises(
        BackendImportError,
        match=re.escape(
            f"Backend 'noattr{u}' is declared by qk-noattr as 'qk_noattr_{u}:Missing', which does not exist:"
        ),
    ):
        get_backend(f"noattr{u}")


def test_entry_point_to_a_non_backend_is_refused(distributions: Maker) -> None:
    """An entry point resolving to something other than a BaseQueue subclass is refused."""
    u = distributions(
        "qk-notq", {"notq{u}": "qk_notq_{u}:NotAQueue"}, {"qk_notq_{u}": BACKEND_CLASS}
    )
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            f"'qk_notq_{u}:NotAQueue' resolves to <class 'dict'>, which is not a queuekit.BaseQueue subclass"
        ),
    ):
        get_backend(f"notq{u}")


def test_new_distribution_is_found_without_an_explicit_rescan(
    tmp_path: Path, distributions: Maker
) -> None:
    """An alias installed after the first scan is found because a miss rescans once."""
    registry._entry_points(rescan=True)
    u = uuid.uuid4().hex[:8]
    info = tmp_path / "qk_late-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qk-late\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[queuekit.backends]\nlate{u} = qk_late_{u}:PluginQueue\n", encoding="utf-8"
    )
    (tmp_path / f"qk_late_{u}.py").write_text(BACKEND_CLASS, encoding="utf-8")
    importlib.invalidate_caches()
    try:
        assert get_backend(f"late{u}").__name__ == "PluginQueue"
    finally:
        sys.modules.pop(f"qk_late_{u}", None)


# -- available_backends ------------------------------------------------------------------------------


def test_available_backends_is_a_read_only_view() -> None:
    """available_backends() cannot be modified by callers."""
    table = available_backends()
    with pytest.raises(TypeError):
        table["memory"] = table["memory"]  # type: ignore[index]


def test_available_backends_describes_the_memory_backend() -> None:
    """The memory row names the queuekit distribution, its target and its capabilities."""
    row = available_backends()["memory"]
    assert (row.name, row.distribution, row.installed, row.importable, row.error) == (
        "memory",
        "queuekit",
        True,
        True,
        None,
    )
    assert row.target == "queuekit.backends.memory:MemoryQueue"
    assert row.version is not None
    assert row.capabilities["delay"] is True and row.capabilities["delivery"] == "at-most-once"


def test_available_backends_lists_every_first_party_backend() -> None:
    """Every first-party alias has a row; an uninstalled one says what to install."""
    table = available_backends()
    for alias in registry.FIRST_PARTY:
        row = table[alias]
        if not row.installed:
            assert row.importable is False
            assert row.error == f"not installed: pip install 'queuekit[{alias}]'"
            assert row.distribution == f"queuekit-{alias}"


def test_available_backends_reports_a_broken_plugin_instead_of_raising(
    distributions: Maker,
) -> None:
    """A plugin that fails to import is listed as installed, not importable, with the error."""
    u = distributions(
        "qk-sick",
        {"sick{u}": "qk_sick_{u}:PluginQueue"},
        {"qk_sick_{u}": "from os import no_such_name_zz\n"},
    )
    row = available_backends()[f"sick{u}"]
    assert (row.installed, row.importable, row.distribution, row.version) == (
        True,
        False,
        "qk-sick",
        "1.0",
    )
    assert row.error is not None and "cannot import name 'no_such_name_zz'" in row.error
    assert row.capabilities == {}


def test_available_backends_reports_a_plugin_missing_a_dependency(distributions: Maker) -> None:
    """A plugin whose engine library is missing is listed with the install hint, not raised."""
    u = distributions(
        "qk-ill",
        {"ill{u}": "qk_ill_{u}:PluginQueue"},
        {"qk_ill_{u}": "import qk_engine_not_installed_zz\n"},
    )
    row = available_backends()[f"ill{u}"]
    assert (row.installed, row.importable) == (True, False)
    assert row.error is not None and "needs the module 'qk_engine_not_installed_zz'" in row.error


def test_available_backends_reports_a_duplicate_alias(distributions: Maker) -> None:
    """A duplicated alias is listed as not importable, naming both distributions."""
    u = uuid.uuid4().hex[:8]
    distributions(
        "qk-twin-a", {"twin{u}": "qk_twa_{u}:PluginQueue"}, {"qk_twa_{u}": BACKEND_CLASS}, u=u
    )
    distributions(
        "qk-twin-b", {"twin{u}": "qk_twb_{u}:PluginQueue"}, {"qk_twb_{u}": BACKEND_CLASS}, u=u
    )
    row = available_backends()[f"twin{u}"]
    assert row.importable is False
    assert row.error is not None and "qk-twin-a" in row.error and "qk-twin-b" in row.error


def test_fake_distributions_are_gone_after_their_test() -> None:
    """The distributions fixture leaves no fake alias behind (the rescan after it works)."""
    assert not any(
        name.startswith(("plug", "dupe", "broken", "sick", "ill", "twin")) and len(name) > 8
        for name in registry._entry_points(rescan=True)
    )
