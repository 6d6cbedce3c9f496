"""`/docs`: Swagger UI over `/openapi.json`, every asset served by the service (from the swagger-ui-bundle
package), so the page works on a network that reaches no CDN."""
from flask import Blueprint, render_template
from swagger_ui_bundle import swagger_ui_path

from . import no_other_host

blp = Blueprint("docs", __name__, url_prefix="/docs", static_folder=swagger_ui_path, static_url_path="/assets")


@blp.get("")
def docs():
    return render_template("console/docs.html")


blp.after_request(no_other_host)
