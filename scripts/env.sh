# Sourced by scripts: environment that keeps Reflex and npm off the closed network.
NPM_CONFIG_REGISTRY="$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)"
export NPM_CONFIG_REGISTRY
export REFLEX_CHECK_LATEST_VERSION=0
export REFLEX_TELEMETRY_ENABLED=false
export UV_PYTHON_DOWNLOADS=never
export PYTHONDONTWRITEBYTECODE=1
