"""``python -m orchestra_app.cli``: the same CLI as the ``orchestra`` console script."""

from orchestra_app.cli import app
from orchestra_app.observability.logging import configure_logging

if __name__ == "__main__":
    configure_logging()
    app(prog_name="orchestra")
