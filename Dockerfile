# syntax=docker/dockerfile:1
# One image, two commands:
#   API    (default): gunicorn -c gunicorn.conf.py wsgi:app      (port $PORT, 5001)
#   worker:           python -m worker.main                       (health/metrics on 8081)
# Migrations run from the same image: flask --app wsgi db-upgrade
# Runs as uid 10001 and works with a read-only root filesystem (bytecode is compiled at build time;
# writable paths are /tmp and $TRELLIS_HOME, mounted as volumes by the platform).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- build: resolve and install the pinned dependencies into a self-contained virtualenv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-virtualenv -r /tmp/requirements.txt
WORKDIR /app
COPY app/ app/
COPY worker/ worker/
COPY migrations/ migrations/
COPY wsgi.py alembic.ini gunicorn.conf.py ./
RUN /opt/venv/bin/python -m compileall -q /app /opt/venv

# ---- runtime: the interpreter, the virtualenv and the code; no compilers, no pip cache
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=5001 \
    TRELLIS_HOME=/var/lib/trellis
RUN groupadd --system --gid ${APP_UID} trellis \
    && useradd --system --uid ${APP_UID} --gid trellis --home-dir /app --shell /usr/sbin/nologin trellis \
    && mkdir -p /var/lib/trellis && chown trellis:trellis /var/lib/trellis
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 5001 8081
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
