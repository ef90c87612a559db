#!/bin/sh
# The image's HEALTHCHECK: the daemon's /healthz when the control plane is enabled,
# otherwise `minibot check-config` (the configuration still loads).
set -eu
if [ "${MINIBOT_CONTROL_PLANE__ENABLED:-false}" = "true" ]; then
  port="${MINIBOT_CONTROL_PLANE__LISTEN_PORT:-8080}"
  exec python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${port}/healthz', timeout=4).status == 200 else 1)"
fi
exec minibot check-config >/dev/null
