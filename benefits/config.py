"""Configuration, read from environment variables with defaults that work on a laptop."""
import os
from pathlib import Path

DEFAULT_SECRET_KEY = "dev-secret-change-me"
INSTANCE_DIR = Path(os.environ.get("BENEFITS_INSTANCE_DIR", Path.cwd() / "instance"))


class ConfigurationError(RuntimeError):
    pass


class Config:
    def __init__(self, **overrides):
        env = os.environ
        self.DATABASE_URL = env.get("BENEFITS_DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'benefits.db'}"
        self.SECRET_KEY = env.get("BENEFITS_SECRET_KEY", DEFAULT_SECRET_KEY)
        self.PRODUCTION = env.get("BENEFITS_ENV", "development") == "production"
        self.RULES_REFRESH_SECONDS = float(env.get("BENEFITS_RULES_REFRESH_SECONDS", "1"))
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        self.CLOCK = None
        for name, value in overrides.items():
            setattr(self, name, value)
        if self.PRODUCTION and self.SECRET_KEY == DEFAULT_SECRET_KEY:
            raise ConfigurationError("BENEFITS_SECRET_KEY must be set in production (BENEFITS_ENV=production)")

    def as_flask(self):
        return {name: value for name, value in vars(self).items() if name.isupper()}
