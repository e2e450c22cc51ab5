#!/bin/sh
# Stops the service when the package is removed (not on upgrade: the new
# package's postinstall restarts it). Debian passes "remove"; RPM passes
# the number of versions left, 0 on removal.
set -e
case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
  if command -v deb-systemd-invoke >/dev/null 2>&1; then
    deb-systemd-invoke stop usher.service >/dev/null || true
  else
    systemctl --no-reload disable --now usher.service >/dev/null 2>&1 || true
  fi
fi
exit 0
