"""What a running app holds for the service (``app.extensions["benefits"]``)."""
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .config import Config
from .encryption import Encryption
from .services.keys import KeyCache
from .services.programs import Programs


@dataclass
class Extension:
    """What the app holds for the service: its settings, the database, the compiled rule programs, the keys
    it has just authenticated, the encryption of stored secrets, the groups of requests done in one unit of work."""

    config: Config
    engine: Engine
    sessions: sessionmaker
    programs: Programs
    keys: KeyCache
    encryption: Encryption
    groups: dict = field(default_factory=dict)  # name → db.Group: requests done together (api.context.in_group)

    def now(self) -> datetime:
        """The current time: the configured clock's (tests), else the system's."""
        return self.config.CLOCK() if self.config.CLOCK else datetime.now(timezone.utc)
