"""`--config crawl.toml`: the same keys as the flags (`max-depth = 3` or `max_depth = 3`).

Values from the file become the subcommand's defaults, so flags on the command line win.
An unknown key or a value of the wrong kind is an error that names the key and the file.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError

NOT_IN_FILES = {"config", "help", "authkey_file"}  # the key stays out of files that travel


def load(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The file's values as argparse defaults (dest -> value) for `parser`."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    # private: argparse lists a parser's options nowhere else; its type and choices check the file
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    out = {}
    for key, value in data.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None or dest in NOT_IN_FILES:
            known = ", ".join(sorted(d.replace("_", "-") for d in actions if d not in NOT_IN_FILES))
            raise ConfigError(f"unknown key {key!r} in {path} (known: {known})")
        out[dest] = _convert(key, value, action, path)
    return out


def _convert(key: str, value: Any, action: argparse.Action, path: Path) -> Any:
    where = f"{key!r} in {path}"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{where} must be a string or a list of strings")
        return values
    if isinstance(value, (dict, list)) and action.type is not None and not isinstance(value, list):
        raise ConfigError(f"{where} has the wrong kind of value: {value!r}")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)  # accept = ["png", "jpg"]
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a {getattr(action.type, '__name__', 'value')}, not {value!r}")
    try:
        converted = action.type(str(value)) if callable(action.type) else value
    except (ValueError, TypeError, ConfigError) as exc:
        raise ConfigError(f"bad value for {where}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        raise ConfigError(f"bad value for {where}: choose from {', '.join(map(str, action.choices))}")
    return converted
