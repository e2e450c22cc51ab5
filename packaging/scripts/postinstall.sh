#!/bin/sh
# Owns the data directory, then enables and starts the service: on Debian
# through deb-systemd-helper and deb-systemd-invoke, which honour
# policy-rc.d; elsewhere through systemctl when systemd runs.
set -e
install -d -o usher -g usher -m 0700 /var/lib/usher
chown root:usher /etc/usher /etc/usher/usher.toml
chmod 0750 /etc/usher
chmod 0640 /etc/usher/usher.toml
if command -v deb-systemd-helper >/dev/null 2>&1; then
  deb-systemd-helper unmask usher.service >/dev/null || true
  if deb-systemd-helper --quiet was-enabled usher.service; then
    deb-systemd-helper enable usher.service >/dev/null || true
  else
    deb-systemd-helper update-state usher.service >/dev/null || true
    deb-systemd-helper enable usher.service >/dev/null || true
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    deb-systemd-invoke restart usher.service >/dev/null || true
  fi
elif [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
  systemctl enable usher.service >/dev/null 2>&1 || true
  systemctl restart usher.service >/dev/null 2>&1 || true
fi
exit 0
