#!/usr/bin/env bash
# Unpacks Debian's Exim for test/interop/auth-service.test.ts. Debian's exim4 and postfix packages
# conflict, so Postfix is installed and Exim is run from its unpacked package: apt-get download +
# dpkg -x into $POSTERN_EXIM_ROOT (default /opt/postern-exim), its shared libraries installed (they
# conflict with nothing), and the Debian-exim user it drops to. It is exim4-daemon-heavy: the
# -light daemon is built without the `dovecot` authenticator ("Authenticators: cram_md5 external
# plaintext" in `exim4 -bV`).
# Idempotent: a second run with the tree in place only checks it. Needs root (CI runs as root).
set -euo pipefail

ROOT="${POSTERN_EXIM_ROOT:-/opt/postern-exim}"
EXIM="$ROOT/usr/sbin/exim4"

if [ "$(id -u)" != 0 ]; then
  echo "setup-exim: needs root (apt-get, useradd); skipping" >&2
  exit 0
fi

if ! getent passwd Debian-exim >/dev/null; then
  # What exim4-base's postinst does (adduser --system --group --home /var/spool/exim4 Debian-exim).
  getent group Debian-exim >/dev/null || groupadd --system Debian-exim
  useradd --system --gid Debian-exim --home-dir /var/spool/exim4 --no-create-home --shell /usr/sbin/nologin Debian-exim
fi

if [ -x "$EXIM" ] && "$EXIM" -bV -C /dev/null 2>/dev/null | grep -q '^Authenticators:.*dovecot'; then
  echo "setup-exim: $EXIM is ready"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt-get download runs as _apt where it can
(cd "$work" && apt-get download -q exim4-daemon-heavy exim4-base)

# The daemon's shared libraries (libidn12, ...): every library it depends on that is not installed yet.
libs=""
for pkg in $(dpkg-deb -f "$work"/exim4-daemon-heavy_*.deb Depends | tr ',' '\n' | sed -E 's/\(.*\)//; s/\|.*//; s/[[:space:]]//g' | grep -E '^lib'); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || libs="$libs $pkg"
done
if [ -n "$libs" ]; then
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $libs
fi

rm -rf "$ROOT.new"
mkdir -p "$ROOT.new"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$ROOT.new"; done
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
"$EXIM" -bV -C /dev/null | grep -E '^(Exim version|Authenticators:)'
echo "setup-exim: unpacked into $ROOT"
