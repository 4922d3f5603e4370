"""Test-only: point the production Snowflake clients of a Meltano run at the fakesnow emulator.

The prod-path tests (tests/prod) put this folder on PYTHONPATH for `meltano`, which passes it on
to its plugins (pass_hooks_to_plugins), so each of their Python processes reads this file at
start-up; production never has it. It does nothing unless SNOWFLAKE_EMULATOR=fakesnow. Then, as
each module below is imported, it is patched:
- target-snowflake 0.20.4 connects to SNOWFLAKE_HOST:SNOWFLAKE_PORT over SNOWFLAKE_PROTOCOL (it
  has no such settings and always builds <account>.snowflakecomputing.com), and its stage step,
  which fakesnow cannot run, is replaced (target_snowflake_on_fakesnow.py);
- meltano-state-backend-snowflake 0.2.7 connects there too (it has no host setting either).
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


def emulator_address() -> dict[str, str | int]:
    return {
        "host": os.environ["SNOWFLAKE_HOST"],
        "port": int(os.environ["SNOWFLAKE_PORT"]),
        "protocol": os.environ["SNOWFLAKE_PROTOCOL"],
    }


def patch_target_snowflake(connector: ModuleType) -> None:
    import target_snowflake_on_fakesnow

    target_snowflake_on_fakesnow.install(connector.SnowflakeConnector, emulator_address())


def patch_state_backend(backend: ModuleType) -> None:
    # In the meltano process the state backend is the only Snowflake client.
    connect = backend.snowflake.connector.connect

    def connect_to_emulator(**params: object) -> object:
        return connect(**params, **emulator_address())

    backend.snowflake.connector.connect = connect_to_emulator


def pass_hooks_to_plugins(plugin_invoker: ModuleType) -> None:
    # Meltano drops PYTHONPATH from its plugins' environment; these hooks must reach them.
    env = plugin_invoker.PluginInvoker.env

    def env_with_hooks(self: object) -> dict[str, str]:
        return {**env(self), "PYTHONPATH": os.path.dirname(__file__)}

    plugin_invoker.PluginInvoker.env = env_with_hooks


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "meltano.core.plugin_invoker": pass_hooks_to_plugins,
    "target_snowflake.connector": patch_target_snowflake,
    "meltano_state_backend_snowflake.backend": patch_state_backend,
}


class PatchAfterImport(importlib.abc.MetaPathFinder):
    """Runs a module's patch right after the module itself has run."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_patch(module: ModuleType) -> None:
            exec_module(module)
            PATCHES[name](module)

        spec.loader.exec_module = exec_then_patch  # type: ignore[method-assign]
        return spec


if os.environ.get("SNOWFLAKE_EMULATOR") == "fakesnow":
    sys.meta_path.insert(0, PatchAfterImport())
