# syntax=docker/dockerfile:1
# Multi-stage: wheels are built in a full image, the runtime image gets only the venv.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN python -m venv /venv && /venv/bin/pip install -r requirements.txt

FROM python:3.12-slim AS runtime
ENV PATH="/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=mcpsite.settings \
    DATA_DIR=/data \
    PRODUCTION=1
RUN useradd --system --uid 1000 --home /app mcpsite && mkdir -p /data && chown mcpsite /data
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=mcpsite . .
# collectstatic needs a key to import settings; it is not the one the container runs with.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0
USER mcpsite
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# The web process; compose.yaml runs the worker from the same image with another command
# (and its own health check). ensure_admin creates the first admin on the first start only:
# from ADMIN_USERNAME/ADMIN_PASSWORD, or with a generated password printed once to the log.
# `exec`: daphne replaces the shell, so that `docker stop`'s SIGTERM reaches it and it drains
# (SHUTDOWN_GRACE_SECONDS) instead of being killed when the stop timeout runs out.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py ensure_admin && exec daphne -b 0.0.0.0 -p 8000 mcpsite.asgi:application"]
