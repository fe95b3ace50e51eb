#!/bin/sh
# /usr/local/bin/hallpass: the `hallpass` command with the server's settings,
# run as the hallpass user (docs/deploy.md installs it). So an operator types
#   sudo hallpass school add lincoln --name "Lincoln High"
# and the command reaches the same store as the service.
set -eu
set -a
. /etc/hallpass/hallpass.env
set +a
if [ "$(id -u)" -eq 0 ]; then
    exec runuser -u hallpass -- /opt/hallpass/venv/bin/hallpass "$@"
fi
exec /opt/hallpass/venv/bin/hallpass "$@"
