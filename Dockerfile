# syntax=docker/dockerfile:1
# minibot's container image. Build: docker build -t minibot .  (see docs/deploy.md)
# Stage 1 installs the locked dependencies (hashes checked) and minibot into a venv;
# stage 2 copies that venv alone onto a clean base: no compilers, no pip caches, no sources.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml poetry.lock ./
COPY scripts/lock_requirements.py scripts/tools/build-requirements.txt scripts/
RUN python -m venv /opt/minibot \
    && python scripts/lock_requirements.py --no-dev > requirements.txt \
    && /opt/minibot/bin/pip install --require-hashes -r requirements.txt \
    && python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes -r scripts/build-requirements.txt
COPY README.md ./
COPY minibot ./minibot
# The wheel is built without fetching a build backend (poetry-core is pinned above), then
# installed without dependencies: they all came from the lock.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheel . \
    && /opt/minibot/bin/pip install --no-deps /tmp/wheel/minibot-*.whl \
    && /opt/minibot/bin/pip uninstall --yes pip setuptools \
    && find /opt/minibot -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE} AS runtime
ARG MINIBOT_UID=10001
LABEL org.opencontainers.image.title="minibot" \
      org.opencontainers.image.description="A self-hosted personal AI assistant" \
      org.opencontainers.image.licenses="MIT"
# One user without a login shell or home of its own; the data volume is the only place
# it writes (the root file system can be mounted read-only).
RUN groupadd --system --gid "${MINIBOT_UID}" minibot \
    && useradd --system --uid "${MINIBOT_UID}" --gid minibot --no-create-home \
       --home-dir /data --shell /usr/sbin/nologin minibot \
    && mkdir -p /data /etc/minibot \
    && chown minibot:minibot /data
COPY --from=build /opt/minibot /opt/minibot
COPY deploy/container/healthcheck.sh /usr/local/bin/minibot-healthcheck
ENV PATH="/opt/minibot/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MINIBOT_CONFIG=/etc/minibot/config.toml
# The default paths are relative (./data/minibot.db, ./data/tasks): from /data they land in
# the volume, and a mounted config.toml may still point anywhere else.
WORKDIR /data
VOLUME ["/data"]
# Numeric, so that a runtime which checks "not root" (Kubernetes runAsNonRoot) can.
USER ${MINIBOT_UID}:${MINIBOT_UID}
# /healthz when the control plane is on, else `minibot check-config` (see the script).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/minibot-healthcheck"]
# Exec form, no shell in between: SIGTERM reaches the daemon itself, which drains and exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["minibot"]
CMD ["run"]
