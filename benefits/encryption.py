"""Secrets at rest: the webhook secrets, encrypted with the keys of ``BENEFITS_ENCRYPTION_KEYS``.

The setting holds comma-separated Fernet keys (``cryptography``'s MultiFernet):
the first encrypts, every one decrypts, so keys rotate by putting a new one
first and, once ``benefits outbox reencrypt`` has run, dropping the old one.
Production refuses to start without the setting (``config``). In development
without it, a key is made once and kept in ``encryption.key`` of the instance
folder (mode 0600, beside the development database), so the API and the
worker of one checkout share it and nothing is ever stored in clear.
"""
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .config import ConfigurationError

DEVELOPMENT_KEY_FILE = "encryption.key"


class SecretUnreadable(ConfigurationError):
    """A stored secret that none of the configured keys decrypts: the keys are wrong, or one was removed
    before ``benefits outbox reencrypt`` ran."""


class Encryption:
    """Encrypt and decrypt short secrets; the keys are read (or, in development, made) on first use."""

    def __init__(self, keys: tuple[str, ...], development_dir: Path | None = None):
        self._keys = tuple(keys)
        self._development_dir = development_dir
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()

    def _cipher(self) -> MultiFernet:
        with self._lock:
            if self._fernet is None:
                keys = self._keys or (self._development_key(),)
                self._fernet = MultiFernet([Fernet(key) for key in keys])
            return self._fernet

    def _development_key(self) -> str:
        """The development key of the instance folder, made (readable by its owner only) if there is none."""
        if self._development_dir is None:
            raise ConfigurationError("BENEFITS_ENCRYPTION_KEYS is not set")
        path = self._development_dir / DEVELOPMENT_KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first
            else:
                with os.fdopen(descriptor, "w") as file:
                    file.write(Fernet.generate_key().decode() + "\n")
        return path.read_text().strip()

    def encrypt(self, secret: str) -> str:
        return self._cipher().encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._cipher().decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("a stored secret cannot be decrypted with BENEFITS_ENCRYPTION_KEYS") from None

    def reencrypt(self, token: str) -> str:
        """The same secret, encrypted with the first key (after a key was put in front)."""
        try:
            return self._cipher().rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("a stored secret cannot be decrypted with BENEFITS_ENCRYPTION_KEYS") from None


def new_key() -> str:
    return Fernet.generate_key().decode()
