import logging
import os

from benefits import create_app

logging.basicConfig(level=os.environ.get("BENEFITS_LOG_LEVEL", "INFO"),
                    format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
app = create_app()
