"""Entry 1: gunicorn's target (`gunicorn wsgi:app`). Reads Settings from the environment and builds the app;
makes sure ADMIN_TOKEN, when set, is an admin token of the default workspace."""

from app import create_app
from app.logs import configure_logging
from app.settings import Settings

settings = Settings()
configure_logging(settings.log_level)
app = create_app(settings)
if settings.admin_token:
    app.extensions["trellis"].accounts.ensure_admin_token(settings.admin_token.get_secret_value())
