"""What a running app holds for the service (``app.extensions["benefits"]``)."""
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .config import Config
from .services.programs import Programs


@dataclass
class Extension:
    """What the app holds for the service: its settings, the database and the compiled rule programs."""

    config: Config
    engine: Engine
    sessions: sessionmaker
    programs: Programs

    def now(self) -> datetime:
        """The current time: the configured clock's (tests), else the system's."""
        return self.config.CLOCK() if self.config.CLOCK else datetime.now(timezone.utc)
