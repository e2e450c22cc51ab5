#!/bin/sh
# Creates the usher system user and group the service runs as.
set -e
if ! getent group usher >/dev/null; then
  if command -v addgroup >/dev/null 2>&1; then
    addgroup --system usher >/dev/null
  else
    groupadd --system usher
  fi
fi
if ! getent passwd usher >/dev/null; then
  if command -v adduser >/dev/null 2>&1; then
    adduser --system --ingroup usher --home /var/lib/usher --no-create-home \
      --shell /usr/sbin/nologin --gecos "Usher license server" usher >/dev/null
  else
    useradd --system --gid usher --home-dir /var/lib/usher --no-create-home \
      --shell /sbin/nologin --comment "Usher license server" usher
  fi
fi
