"""Configuration: every setting read once from the environment, typed, with defaults that work on a laptop.

A setting is named once in ``SETTINGS`` with its environment variable, its type
and its default. ``Config(**overrides)`` takes overrides by setting name (tests
pass ``DATABASE_URL=...``); a name that is no setting is refused, so a typo
fails loudly instead of passing silently.
"""
import base64
import binascii
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

DEFAULT_SECRET_KEY = "dev-secret-change-me"
MAX_CONTENT_LENGTH = 1024 * 1024


class ConfigurationError(RuntimeError):
    """A setting is missing or cannot be read."""


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false (1/0, true/false, yes/no)")


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"{text!r} is not a number of seconds at least 0")
    return value


def _fernet_keys(text: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys, each the URL-safe base64 of 32 bytes (the first encrypts, all decrypt)."""
    keys = tuple(key.strip() for key in text.split(",") if key.strip())
    for number, key in enumerate(keys, 1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, UnicodeEncodeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"key {number} is not the URL-safe base64 of 32 bytes (make one with `benefits outbox "
                             "new-key`)")
    return keys


def _seconds_list(text: str) -> tuple[float, ...]:
    """Comma-separated waits in seconds, each above 0, at least one."""
    try:
        waits = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of seconds") from None
    if not all(0 < wait < float("inf") for wait in waits):
        raise ValueError(f"{text!r}: every wait must be a number of seconds above 0")
    return waits


@dataclass(frozen=True)
class Setting:
    variable: str | None  # the environment variable, or None for a setting only code can pass
    parse: Callable[[str], Any] = str
    default: Any = None


def instance_dir() -> Path:
    return Path(os.environ.get("BENEFITS_INSTANCE_DIR") or Path.cwd() / "instance")


SETTINGS: dict[str, Setting] = {
    "DATABASE_URL": Setting("BENEFITS_DATABASE_URL"),
    "SECRET_KEY": Setting("BENEFITS_SECRET_KEY", default=DEFAULT_SECRET_KEY),
    "PRODUCTION": Setting("BENEFITS_ENV", lambda text: text.strip() == "production", default=False),
    "RULES_REFRESH_SECONDS": Setting("BENEFITS_RULES_REFRESH_SECONDS", _non_negative, default=1.0),
    "KEY_CACHE_SECONDS": Setting("BENEFITS_KEY_CACHE_SECONDS", _non_negative, default=1.0),
    "AMQP_URL": Setting("BENEFITS_AMQP_URL", default="amqp://guest:guest@127.0.0.1:5672/"),
    "AMQP_QUEUE": Setting("BENEFITS_AMQP_QUEUE", default="benefits.events"),
    "ENCRYPTION_KEYS": Setting("BENEFITS_ENCRYPTION_KEYS", _fernet_keys, default=()),
    "WEBHOOK_ALLOW_PRIVATE": Setting("BENEFITS_WEBHOOK_ALLOW_PRIVATE", _boolean, default=False),
    "WEBHOOK_RETRY_SCHEDULE": Setting("BENEFITS_WEBHOOK_RETRY_SCHEDULE", _seconds_list,
                                      default=(5, 300, 1800, 7200, 18000, 36000, 36000)),
    "OUTBOX_RETENTION_DAYS": Setting("BENEFITS_OUTBOX_RETENTION_DAYS", _non_negative, default=7.0),
    "CLOCK": Setting(None),  # a callable answering the current time (tests); None: the system clock
    "TESTING": Setting(None, default=False),
}


def maybe_set(settings: dict, name: str, setting: Setting, environ) -> None:
    """``settings[name]`` from the environment variable when it is set, parsed, else the default."""
    text = environ.get(setting.variable) if setting.variable else None
    if text is None or text == "":
        settings.setdefault(name, setting.default)
        return
    try:
        settings[name] = setting.parse(text)
    except ValueError as error:
        raise ConfigurationError(f"{setting.variable}: {error}") from None


class Config:
    """The service's settings; ``Config(DATABASE_URL=...)`` overrides one (an unknown name is refused)."""

    DATABASE_URL: str
    SECRET_KEY: str
    PRODUCTION: bool
    RULES_REFRESH_SECONDS: float
    KEY_CACHE_SECONDS: float
    AMQP_URL: str
    AMQP_QUEUE: str
    ENCRYPTION_KEYS: tuple[str, ...]
    WEBHOOK_ALLOW_PRIVATE: bool
    WEBHOOK_RETRY_SCHEDULE: tuple[float, ...]
    OUTBOX_RETENTION_DAYS: float
    CLOCK: Callable[[], datetime] | None
    TESTING: bool
    MAX_CONTENT_LENGTH: int = MAX_CONTENT_LENGTH

    def __init__(self, environ=None, **overrides):
        unknown = sorted(set(overrides) - set(SETTINGS))
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {', '.join(unknown)} "
                                     f"(settings: {', '.join(SETTINGS)})")
        environ = os.environ if environ is None else environ
        values = dict(overrides)
        for name, setting in SETTINGS.items():
            if name not in values:
                maybe_set(values, name, setting, environ)
        values["DATABASE_URL"] = values["DATABASE_URL"] or f"sqlite:///{instance_dir() / 'benefits.db'}"
        vars(self).update(values)
        if self.PRODUCTION and self.SECRET_KEY == DEFAULT_SECRET_KEY:
            raise ConfigurationError("BENEFITS_SECRET_KEY must be set in production (BENEFITS_ENV=production)")
        if self.PRODUCTION and not self.ENCRYPTION_KEYS:
            raise ConfigurationError("BENEFITS_ENCRYPTION_KEYS must be set in production (BENEFITS_ENV=production): "
                                     "it encrypts the webhook secrets")

    def as_flask(self) -> dict:
        return {name: getattr(self, name) for name in (*SETTINGS, "MAX_CONTENT_LENGTH")}
