# syntax=docker/dockerfile:1
# Metadock's image (README "Running a cluster"): `docker build -t metadock .`
#
# The entrypoint is the `metadock` command; the default command serves. Migrations are a step of their own, run once
# per release before any node starts (compose.yaml's `migrate` service):
#   docker run --rm -e METADOCK_DATABASE_URL=... metadock db upgrade
#   docker run -e METADOCK_DATABASE_URL=... -p 8000:8000 metadock
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the locked dependencies, then the project, into a virtual environment at /opt/metadock ------------------
FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/metadock \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The uv the lock was made with (Makefile, pyproject's dev extra).
RUN pip install uv==0.13.9
WORKDIR /src
# Dependencies first, from the lock alone (no dev or bench extra): this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project --no-editable
COPY metadock ./metadock
RUN uv sync --locked --no-editable

# --- runtime: the environment and nothing else, run as an unprivileged user ------------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 metadock \
 && useradd --system --uid 10001 --gid metadock --home-dir /var/lib/metadock --create-home --shell /usr/sbin/nologin metadock
COPY --from=build /opt/metadock /opt/metadock
ENV PATH=/opt/metadock/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    METADOCK_DATA_DIR=/var/lib/metadock
USER metadock:metadock
WORKDIR /var/lib/metadock
EXPOSE 8000
# Liveness only (the process answers): readiness (/readyz, the database and the drain) is the load balancer's check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# SIGTERM starts the graceful drain (/readyz 503, --drain-delay, requests in flight finished within --shutdown-timeout):
# give the container a stop timeout above their sum (compose.yaml: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["metadock"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-migrate", "--drain-delay", "2"]
