# Orchestra image: the Reflex app (UI + REST API on one port) and the Dramatiq executor share it.
# Build: docker build -t orchestra/api:latest .
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    REFLEX_CHECK_LATEST_VERSION=0 \
    REFLEX_TELEMETRY_ENABLED=false \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm curl ca-certificates \
 && npm install -g bun@1.4.4 \
 && pip install --no-cache-dir uv==0.9.30 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN uv sync --frozen --no-dev \
 && useradd --system --uid 10001 --home-dir /app orchestra \
 && mkdir -p /app/.web /data \
 && chown -R orchestra:orchestra /app /data
USER orchestra
ENV ORCHESTRA_DATA_DIR=/data ORCHESTRA_PORT=8080

EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s \
  CMD curl -fsS http://localhost:8080/api/v1/health || exit 1
ENTRYPOINT ["/app/scripts/container-entrypoint"]
CMD ["serve"]
