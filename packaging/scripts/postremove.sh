#!/bin/sh
# Keeps the data and the configuration on remove; drops them, the user and
# the service's state on purge (Debian's "purge"; RPM has none, so an RPM
# removal keeps them: delete /var/lib/usher and /etc/usher by hand).
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = "remove" ] && command -v deb-systemd-helper >/dev/null 2>&1; then
  deb-systemd-helper mask usher.service >/dev/null || true
fi
if [ "$1" = "purge" ]; then
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge usher.service >/dev/null || true
    deb-systemd-helper unmask usher.service >/dev/null || true
  fi
  rm -rf /var/lib/usher /etc/usher
  if getent passwd usher >/dev/null; then
    deluser --system usher >/dev/null 2>&1 || userdel usher >/dev/null 2>&1 || true
  fi
  if getent group usher >/dev/null; then
    delgroup --system usher >/dev/null 2>&1 || groupdel usher >/dev/null 2>&1 || true
  fi
fi
exit 0
