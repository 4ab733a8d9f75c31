"""A local stand-in for 1min.ai's API (an offline rehearsal, not AI): ASGI app, server, faults.

Heavy modules (Starlette, uvicorn, Pillow) load only when these names are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.emulator.config import (
    DEFAULT_CREDITS_PER_IMAGE,
    EmulatorConfig,
    config_from_options,
    parse_latency,
    parse_probability,
)

if TYPE_CHECKING:
    from runner.emulator.app import create_app
    from runner.emulator.server import EmulatorProcess, EmulatorServer, serve_forever

__all__ = [
    "DEFAULT_CREDITS_PER_IMAGE",
    "EmulatorConfig",
    "EmulatorProcess",
    "EmulatorServer",
    "config_from_options",
    "create_app",
    "parse_latency",
    "parse_probability",
    "serve_forever",
]

_LAZY = {
    "create_app": "runner.emulator.app",
    "EmulatorServer": "runner.emulator.server",
    "EmulatorProcess": "runner.emulator.server",
    "serve_forever": "runner.emulator.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runner.emulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
