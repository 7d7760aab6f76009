"""Entry 1: gunicorn's target (`gunicorn wsgi:app`) and `flask --app wsgi`. Reads Settings from the environment
and builds the app. ADMIN_TOKEN, when set, becomes an admin token of the default workspace on first use."""

from app import create_app
from app.logs import configure_logging
from app.settings import Settings

settings = Settings()
configure_logging(settings.log_level, payloads=settings.log_payloads)
app = create_app(settings)
