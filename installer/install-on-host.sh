#!/bin/sh
# Entry point of racker's installer image (see Containerfile and docs/installing.md).
#
# Copies racker (its virtual environment and the Python it runs on) from this image into the
# host's /opt/racker, runs 'racker install -root' against the host's root and, when the container
# shares the host's PID namespace, reloads systemd and (re)starts racker-serve.service there.
#
#   sudo docker run --rm --privileged --pid host -v /:/host IMAGE
#
# Settings (for tests and unusual hosts): HOST_ROOT (default /host), RACKER_IMAGE_DIR (default
# /opt/racker), RACKER_BIN (default $RACKER_IMAGE_DIR/venv/bin/racker), RACKER_NO_SYSTEMCTL=1.
set -eu

SRC=${RACKER_IMAGE_DIR:-/opt/racker}
HOST=${HOST_ROOT:-/host}
DEST=/opt/racker
RACKER=${RACKER_BIN:-$SRC/venv/bin/racker}
RUN_HINT="sudo docker run --rm --privileged --pid host -v /:/host IMAGE"

if [ ! -d "$HOST/etc" ] || [ ! -d "$HOST/usr" ]; then
  echo "× The host's root file system is not mounted at $HOST." >&2
  echo "  Run the image like this: $RUN_HINT" >&2
  exit 1
fi

# The host's systemd is reachable only through PID 1 of the host (--pid host, --privileged).
host() { nsenter --target 1 --mount --uts --ipc --net --pid -- "$@"; }
reach_host() {
  [ -z "${RACKER_NO_SYSTEMCTL:-}" ] && host test -d /run/systemd/system 2>/dev/null
}

LOCKSMITH=false
if reach_host && host systemctl is-active --quiet locksmithd; then
  # NOTE: a Flatcar update reboot in the middle of the copy would leave a half-installed racker.
  LOCKSMITH=true
  host systemctl stop locksmithd
fi
restore() { if $LOCKSMITH; then host systemctl start locksmithd || true; fi; }
trap restore EXIT

# Copy next to the old installation first, then swap: an interrupted copy never leaves a
# mixture of two versions' files in the venv (old modules would linger and shadow new ones).
incoming="$HOST$DEST/.incoming.$$"
rm -rf "$incoming"
mkdir -p "$incoming"
cp -a "$SRC/venv" "$SRC/python" "$incoming/"
for part in venv python; do
  rm -rf "${HOST:?}$DEST/${part:?}"
  mv "$incoming/$part" "$HOST$DEST/$part"
done
rmdir "$incoming"
echo "✓ Copied racker into $DEST"

"$RACKER" install -root "$HOST" -venv "$DEST/venv"

if reach_host; then
  host systemctl daemon-reload
  host systemctl enable --now racker-serve.service
  # an update through the image: the running service must pick up the new venv
  host systemctl try-restart racker-serve.service
  echo "✓ racker-serve.service enabled and (re)started"
else
  echo "🛈 The host's systemd was not reachable (run the image with --pid host --privileged);"
  echo "  on the host run: sudo systemctl daemon-reload && sudo systemctl enable --now racker-serve"
fi
echo "Installation complete, you may now run: racker"
