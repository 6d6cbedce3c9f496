"""The API's Blueprint: flask-smorest's, with JSON bodies parsed by the guarded ``schemas.parse_json``."""
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..schemas import parse_json


class BodyParser(FlaskParser):
    def _raw_load_json(self, req):
        """The body, refused with 422 when too deep, with too long a number, or holding no text."""
        if not is_json_request(req):
            return core.missing
        return parse_json(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = BodyParser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, with a schema class made an instance once, here, rather than on every request."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)
