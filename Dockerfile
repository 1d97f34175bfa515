# The bridge: slim, non-root, dependencies pinned by uv.lock. Configuration comes from a mounted
# /config/config.toml plus BRIDGE_* environment variables; no secret is baked into the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache

COPY README.md ./
COPY core ./core
COPY bots ./bots
RUN uv sync --frozen --no-dev --no-cache

# The code stays root-owned (read-only to the process); /data is the one writable place, for a
# SQLite store when no Redis is configured (set [store] path = "/data/bridge.db").
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid bridge --home-dir /nonexistent \
        --shell /usr/sbin/nologin bridge \
    && mkdir /data \
    && chown bridge:bridge /data

# The HEALTHCHECK below needs the /healthz listener, so the image turns it on (loopback only,
# unless BRIDGE_HEALTH__HOST says otherwise).
ENV PATH="/app/.venv/bin:${PATH}" \
    BRIDGE_CONFIG=/config/config.toml \
    BRIDGE_HEALTH__ENABLED=true

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

# The health listener (health.port) and the Telegram webhook listener (telegram.webhook.port).
EXPOSE 8080
EXPOSE 8443

# `bridge health` asks /healthz at the health.host and health.port of the same config (exit 1
# when it does not answer 200); no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bridge", "health"]

CMD ["bridge", "run"]
