"""``python -m orchestra_app.cli``: the same CLI as the ``orchestra`` console script."""

from orchestra_app.cli import app

if __name__ == "__main__":
    app(prog_name="orchestra")
