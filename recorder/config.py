"""Configuration: ``config.toml`` read into frozen dataclasses.

Precedence, lowest first: the built-in defaults below < the TOML file < environment variables
``RECORDER_<SECTION>__<KEY>`` < command-line flags. ``RECORDER_CONFIG`` (or ``--config``) picks
the file; a missing file at the default path means "defaults only", a missing file that was asked
for by name is an error.

Every section is a frozen dataclass; adding a setting is adding a field with its default. An
unknown section or key, or a value of the wrong type, raises :class:`~recorder.errors.ConfigError`
naming the key, where it came from and the expected type.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recorder.errors import ConfigError

Durability = Literal["strict", "safe", "fast"]

DEFAULT_CONFIG_PATH = Path("config.toml")
ENV_PREFIX = "RECORDER_"


@dataclass(frozen=True, slots=True)
class JournalConfig:
    """``[journal]``: where frames are written and how hard the writer tries to keep them."""

    path: Path = Path("var/recorder.journal")
    durability: Durability = "safe"
    fast_flush_ms: int = 5
    """``fast`` mode: the longest a frame waits in memory before its batch is committed."""
    fast_batch: int = 2000
    """``fast`` mode: a batch this large is committed at once, without waiting."""
    safe_commit_ms: int = 10
    """``safe`` mode: the longest a frame waits in the spool for its SQLite commit (when other
    processes see it); it is safe from a killed process from the moment it is appended."""
    busy_timeout_ms: int = 5000
    """How long to wait for another process's lock on the file before failing."""


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """``[exchange]``: the LX/1 endpoints a client or the capture service connects to."""

    order_endpoint: str = "tcp://127.0.0.1:7101"
    market_endpoint: str = "tcp://127.0.0.1:7102"
    server_key: Path = Path("var/keys/exchange.key")
    """The exchange's public certificate (or the embedded simulator's key pair)."""


@dataclass(frozen=True, slots=True)
class KeysConfig:
    """``[keys]``: where ``recorder keys generate`` writes certificates."""

    dir: Path = Path("var/keys")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """``[sim]``: the bundled LX/1 exchange simulator."""

    order_bind: str = "tcp://127.0.0.1:7101"
    market_bind: str = "tcp://127.0.0.1:7102"
    control_bind: str = "tcp://127.0.0.1:7103"
    contracts: int = 3
    seed: int = 7
    makers: int = 3
    takers: int = 1
    heartbeat_ms: int = 1000
    liquidity_interval_ms: int = 50
    """Background liquidity: average time between two market-maker or taker actions."""
    replay_cap: int = 2500


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """``[capture]``: the capture service, a recording proxy bots connect to (``recorder capture``).

    Durability is ``[journal] durability``; the upstream endpoints and the exchange's public key
    are ``[exchange]``'s unless ``upstream = "embedded"`` starts the ``[sim]`` simulator in-process.
    """

    order_bind: str = "tcp://127.0.0.1:7201"
    """Bot-facing order channel (ROUTER, CURVE server)."""
    market_bind: str = "tcp://127.0.0.1:7202"
    """Bot-facing market channel (PUB, CURVE server)."""
    status_bind: str = "tcp://127.0.0.1:7203"
    """Plain REP socket answering ``recorder capture status`` (bind it to loopback)."""
    upstream: Literal["embedded", "exchange"] = "embedded"
    """``embedded``: start the bundled simulator in-process; ``exchange``: ``[exchange]``."""
    server_key: Path = Path("var/keys/capture.key")
    """The service's own key pair (generated on the first run); bots use its public key."""
    participant_key: Path = Path("var/keys/participant.key")
    """The participant's key pair (with ``_secret``) used towards the exchange."""
    bot_keys_dir: Path = Path("var/keys/bots")
    """Allow-list: every public certificate (``*.key``) here may connect, plus the participant."""
    bot_keys: str = ""
    """More allowed bot public keys: z85 text, comma-separated."""
    capture_point: str = "capture"
    """The name of this capture point in the journal's ``sessions`` table."""
    committer: Literal["process", "inline"] = "process"
    """``safe``: who commits the journal's spool to SQLite — a child process (off the capture
    loop's CPU: its throughput), or the loop itself between wake-ups."""
    replay_timeout_ms: int = 2000
    """A gap-filling request without its final reply after this long is sent again (3 tries)."""
    status_log_s: float = 10.0
    """Seconds between two status lines in the log (0: never)."""
    heartbeat_ms: int = 1000
    """The exchange's heartbeat interval until its first heartbeat announces its own
    (``interval_ms``; the service follows the exchange's from then on)."""
    heartbeat_factor: int = 3
    """The exchange is unavailable after ``heartbeat_ms`` x this without a message on a
    channel: the service reconnects upstream (a new journal session)."""
    reconnect_backoff_cap_ms: int = 30_000
    """Still silent after a reconnection: the next one comes ``heartbeat_ms`` x
    ``heartbeat_factor`` later, doubling each time up to this."""

    def __post_init__(self) -> None:
        for name in ("heartbeat_ms", "heartbeat_factor"):
            value = getattr(self, name)
            if value <= 0:
                raise ConfigError(f"[capture] {name} must be a positive integer, not {value}")
        threshold = self.heartbeat_ms * self.heartbeat_factor
        if self.reconnect_backoff_cap_ms < threshold:
            raise ConfigError(
                f"[capture] reconnect_backoff_cap_ms ({self.reconnect_backoff_cap_ms}) must be at "
                f"least heartbeat_ms x heartbeat_factor ({threshold} ms), the first reconnection's "
                "wait; raise it or lower those"
            )


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """``[client]``: the bot SDK (``recorder.client``) and its in-flight MID tracking."""

    ack_timeout_ms: int = 1000
    """S1: how long a request waits for its ACK before it is resent (same envelope, same mid)."""
    backoff_cap_ms: int = 8000
    """S1: resends back off by doubling the wait, up to this."""
    heartbeat_factor: int = 3
    """The exchange is unavailable after ``interval_ms`` x this without a message."""
    default_heartbeat_ms: int = 1000
    """The heartbeat interval assumed until the exchange announces one."""
    reconnect: bool = True
    """Reconnect the order channel (a new journal session) when it goes silent."""
    resync_books: bool = True
    """On a market-channel gap, fetch ``GetBookState`` for every contract seen."""
    busy_poll_us: int = 0
    """After each wake-up the I/O thread polls its sockets without sleeping for this long
    before it waits for them (0: it waits at once). For hosts with a core to spare: replies
    find the thread awake. It keeps a core busy while messages come."""
    committer: Literal["process", "inline"] = "process"
    """``safe``: who commits the journal's spool to SQLite — a child process (off the I/O
    thread's CPU and the bot's GIL), or the I/O thread itself at its idle moments."""

    def __post_init__(self) -> None:
        if self.busy_poll_us < 0:
            raise ConfigError(
                f"[client] busy_poll_us must be 0 (off) or a positive number of microseconds,"
                f" not {self.busy_poll_us}"
            )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration. ``source`` is the file it was read from, if any."""

    journal: JournalConfig = field(default_factory=JournalConfig)
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    client: ClientConfig = field(default_factory=ClientConfig)
    source: Path | None = None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The settings as plain TOML-like values (paths as strings), section by section."""
        out: dict[str, dict[str, Any]] = {}
        for section in _sections():
            values = dataclasses.asdict(getattr(self, section.name))
            out[section.name] = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
        return out


Overrides = Mapping[tuple[str, str], Any]
"""Values from command-line flags: ``{("journal", "path"): Path("x.journal")}``."""


def load_config(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Overrides | None = None,
) -> Config:
    """Read the configuration with the documented precedence.

    ``path=None`` takes ``RECORDER_CONFIG`` or ``./config.toml``; only an explicitly named file
    must exist.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "RECORDER_CONFIG" in env
    file = Path(path if path is not None else env.get("RECORDER_CONFIG", DEFAULT_CONFIG_PATH))

    layers: dict[str, dict[str, Any]] = {s.name: {} for s in _sections()}
    source: Path | None = None
    if file.is_file():
        source = file
        _merge_file(layers, file)
    elif explicit:
        raise ConfigError(
            f"config file {file} does not exist; create it or point --config elsewhere"
        )
    _merge_env(layers, env)
    for (section, key), value in (overrides or {}).items():
        if value is not None:
            layers[section][key] = _coerce(section, key, value, "the command line")
    built = {s.name: _section_type(s)(**layers[s.name]) for s in _sections()}
    return Config(**built, source=source)


def _sections() -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(Config) if f.name != "source")


def _section_type(section: dataclasses.Field[Any]) -> type[Any]:
    hints = typing.get_type_hints(Config)
    kind: type[Any] = hints[section.name]
    return kind


def _field_types(section: str) -> dict[str, Any]:
    for s in _sections():
        if s.name == section:
            return typing.get_type_hints(_section_type(s))
    raise KeyError(section)


def _merge_file(layers: dict[str, dict[str, Any]], file: Path) -> None:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition; e.g. a latin-1 editor
        raise ConfigError(
            f"config file {file} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); a TOML file must be UTF-8: save it again as UTF-8"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    for section, values in data.items():
        if section not in layers:
            raise ConfigError(
                f"unknown section [{section}] in {file}; known sections: {', '.join(layers)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{section} in {file} must be a table ([{section}])")
        for key, value in values.items():
            layers[section][key] = _coerce(section, key, value, str(file))


def _merge_env(layers: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if section not in layers:
            raise ConfigError(
                f"environment variable {name} names an unknown section [{section}]; "
                f"known sections: {', '.join(layers)}"
            )
        layers[section][key] = _coerce(section, key, raw, f"environment variable {name}", text=True)


def _coerce(section: str, key: str, value: Any, origin: str, *, text: bool = False) -> Any:
    """Check ``value`` against the declared type of ``section.key``; parse it if it is env text."""
    types_ = _field_types(section)
    if key not in types_:
        raise ConfigError(
            f"unknown key {section}.{key} in {origin}; "
            f"known keys of [{section}]: {', '.join(sorted(types_))}"
        )
    expected = types_[key]
    try:
        return _convert(expected, value, text)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{section}.{key} in {origin} must be {_describe(expected)}, not {value!r}"
        ) from exc


def _convert(expected: Any, value: Any, text: bool) -> Any:
    origin = typing.get_origin(expected)
    if origin is Literal:
        choices = typing.get_args(expected)
        if value not in choices:
            raise ValueError(value)
        return value
    if origin in (typing.Union, types.UnionType):
        raise TypeError("union settings are not supported")
    if expected is bool:
        if isinstance(value, bool):
            return value
        if text and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ValueError(value)
    if expected is int:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int):
            return value
        if text:
            return int(value)
        raise ValueError(value)
    if expected is float:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int | float):
            return float(value)
        if text:
            return float(value)
        raise ValueError(value)
    if expected is str:
        if isinstance(value, str):
            return value
        raise ValueError(value)
    if expected is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise ValueError(value)
    raise TypeError(f"unsupported setting type {expected!r}")


def _describe(expected: Any) -> str:
    if typing.get_origin(expected) is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(expected))
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path",
    }
    return names.get(expected, repr(expected))
