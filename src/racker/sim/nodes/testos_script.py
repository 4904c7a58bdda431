"""The shell scripts of the QEMU nodes' test OS (busybox `sh`). Pure: text only.

The test OS plays both parts a Flatcar node plays for racker, chosen by its disk:
- no marker on `/dev/vda` → the PXE-booted **installer**: fetch the Ignition named by
  `ignition.config.url`, post the VM's hardware inventory (read from /sys and /proc), download
  the OS image `flatcar-install -b BASE` would, write the marker, POST `installed` and wait for
  the answer, then reboot;
- marker `racker-installed MAC IGNITION_URL` on `/dev/vda` → the **installed system**: fetch its
  own Ignition and POST `booted` where its report script would.

`LIB` holds the parsing helpers (sourced by `/init`, and by the tests under the host's busybox);
curl, used by racker's real scripts, is not in busybox, so the URLs are read out of the
decoded Ignition instead of running those scripts.
"""

from __future__ import annotations

MARKER = "racker-installed"
"""First word of the disk marker the installer writes to the first sector of /dev/vda."""

LIB_PATH = "/lib/racker-testos.sh"

LIB = r"""# racker-sim test OS helpers (busybox sh)
say() { echo "racker-testos: $*"; }

# cmdline_arg NAME [FILE]: value of NAME=... on the kernel command line (first one wins)
cmdline_arg() {
  set -f
  for w in $(cat "${2:-/proc/cmdline}"); do
    case "$w" in "$1="*) echo "${w#*=}"; set +f; return 0;; esac
  done
  set +f
  return 1
}

# urldecode TEXT: percent-decoded TEXT ('+' stays '+': data URLs are not form data)
urldecode() {
  printf '%b' "$(printf '%s' "$1" | sed 's/\\/%5C/g; s/%\([0-9A-Fa-f][0-9A-Fa-f]\)/\\x\1/g')"
}

# ign_texts FILE: every data: URL of the Ignition config, decoded, then the raw config itself
ign_texts() {
  grep -o '"source": *"data:[^"]*"' "$1" | sed 's/^"source": *"//; s/"$//' |
  while IFS= read -r src; do
    meta=${src%%,*}
    payload=${src#*,}
    case "$meta" in
      *';base64') echo "$payload" | base64 -d ;;
      *) urldecode "$payload" ;;
    esac
    echo
  done
  # the raw config last, JSON's \n escapes as line breaks (unit contents are JSON strings)
  sed 's/\\n/\n/g' "$1"
}

# install_base TEXTFILE: the -b BASE of the flatcar-install call
install_base() {
  grep 'flatcar-install' "$1" | head -n 1 | tr -d "'\"" |
    awk '{for (i = 1; i < NF; i++) if ($i == "-b") { print $(i + 1); exit }}'
}

# install_version TEXTFILE: the -V VERSION of the flatcar-install call (default current)
install_version() {
  v=$(grep 'flatcar-install' "$1" | head -n 1 | tr -d "'\"" |
      awk '{for (i = 1; i < NF; i++) if ($i == "-V") { print $(i + 1); exit }}')
  echo "${v:-current}"
}

# events_url TEXTFILE: racker's events URL the config reports to
events_url() {
  grep -o "https\?://[^ \"'\\\\<>]*/racker/v1/nodes/[^ \"'\\\\<>/]*/events" "$1" | head -n 1
}

# installed_url TEXTFILE: the ignition.config.url the installed system boots with
installed_url() {
  grep -o "ignition\.config\.url=[^ \"'\\\\]*os=installed[^ \"'\\\\]*" "$1" | head -n 1 |
    sed 's/^ignition\.config\.url=//'
}

# version_of VERSION_TXT: FLATCAR_VERSION of a release's version.txt
version_of() {
  sed -n 's/^FLATCAR_VERSION=["]*\([^"]*\)["]*$/\1/p' "$1" | head -n 1
}

# has_fault KIND: true when the simulator set fault KIND (QEMU fw_cfg opt/racker/faults)
has_fault() {
  case ":${RACKER_FAULTS:-}:" in *":$1:"*) return 0;; esac
  return 1
}

# base_of URL: scheme://host[:port] of URL
base_of() {
  echo "$1" | sed 's#^\([a-z]*://[^/]*\).*#\1#'
}

# js TEXT: TEXT as a JSON string (control characters dropped, at most 128 characters)
js() {
  printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | head -c 128 |
    sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# rd FILE: the first line of FILE, or nothing
rd() { head -n 1 "$1" 2>/dev/null | head -c 128; }

# inventory_json: the raw hardware document racker's collector prints, read from /sys and
# /proc as busybox can (no lsblk -J, no ip -j: their JSON is written here from /sys/block and
# /sys/class/net). RACKER_ROOT (unset in the VM) points at a test tree.
inventory_json() {
  r="${RACKER_ROOT:-}"
  d="$r/sys/class/dmi/id"
  printf '{"system":{"uuid":%s,"vendor":%s,"model":%s,"serial":%s},' \
    "$(js "$(rd "$d/product_uuid")")" "$(js "$(rd "$d/sys_vendor")")" \
    "$(js "$(rd "$d/product_name")")" "$(js "$(rd "$d/product_serial")")"
  model=$(grep -m 1 '^model name' "$r/proc/cpuinfo" | cut -d: -f2- | sed 's/^ *//')
  threads=$(grep -c '^processor' "$r/proc/cpuinfo")
  printf '"cpu":{"model":%s,"cores":%s,"threads":%s},' "$(js "$model")" "${threads:-0}" \
    "${threads:-0}"
  m="$r/sys/devices/system/memory"
  blocks=$(cat "$m"/memory*/online 2>/dev/null | grep -c '^1$')
  total=$(awk '/^MemTotal:/{print $2}' "$r/proc/meminfo")
  printf '"memory":{"blocks":%s,"block_size_hex":%s,"total_kb":%s},' "${blocks:-0}" \
    "$(js "$(rd "$m/block_size_bytes")")" "${total:-0}"
  printf '"lsblk":{"blockdevices":['
  sep=
  for b in "$r"/sys/block/*; do
    [ -e "$b/device" ] || continue
    sectors=$(rd "$b/size")
    printf '%s{"name":%s,"size":%s,"model":%s,"serial":%s,"rota":%s,"type":"disk"}' "$sep" \
      "$(js "${b##*/}")" "$((${sectors:-0} * 512))" "$(js "$(rd "$b/device/model")")" \
      "$(js "$(rd "$b/device/serial")")" "$(js "$(rd "$b/queue/rotational")")"
    sep=,
  done
  printf ']},"links":['
  sep=
  for n in "$r"/sys/class/net/*; do
    [ -e "$n/device" ] || continue
    printf '%s{"ifname":%s,"address":%s,"link_type":"ether","operstate":%s}' "$sep" \
      "$(js "${n##*/}")" "$(js "$(rd "$n/address")")" "$(js "$(rd "$n/operstate" |
      tr a-z A-Z)")"
    sep=,
  done
  printf '],"nics":['
  sep=
  for n in "$r"/sys/class/net/*; do
    [ -e "$n/device" ] || continue
    drv=$(readlink "$n/device/driver")
    speed=$(rd "$n/speed")
    case "$speed" in -*) speed= ;; esac
    printf '%s{"name":%s,"driver":%s,"speed":%s,"carrier":%s}' "$sep" "$(js "${n##*/}")" \
      "$(js "${drv##*/}")" "$(js "$speed")" "$(js "$(rd "$n/carrier")")"
    sep=,
  done
  printf ']}'
}

# mac_of_url URL: the mac= query value of URL
mac_of_url() {
  echo "$1" | sed -n 's/.*[?&]mac=\([^&]*\).*/\1/p'
}
"""

DHCP_HOOK_PATH = "/etc/udhcpc.script"

DHCP_HOOK = r"""#!/bin/sh
# udhcpc hook of the test OS: address and default route only (no resolv.conf: racker's URLs
# are IP addresses)
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    echo "racker-testos: lease $ip/$mask on $interface from $serverid" >/dev/console
    ;;
esac
exit 0
"""

INIT = r"""#!/bin/sh
# racker-sim test OS: a PXE-booted Flatcar installer, or the installed system (see the disk)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
. __LIB__
mkdir -p /tmp
say "up (kernel $(uname -r))"
if cmdline_arg racker.probe >/dev/null; then say "probe ok"; poweroff -f; fi

# serial_shell: a root shell on the serial console, as flatcar.autologin gives one on a real
# node's (and its emergency mode, when it stops): what an operator types over SOL reaches it
# (started again when it exits)
serial_shell() {
  while :; do
    sh -i </dev/console >/dev/console 2>&1
    sleep 1
  done
}

halt_here() {
  say "halted: $*"
  serial_shell
}

# POST an event and wait for racker's answer (bounded tries)
post_event() {
  n=0
  while [ $n -lt 30 ]; do
    n=$((n + 1))
    if timeout 330 wget -q -O /tmp/answer --header 'Content-Type: application/json' \
        --post-data "{\"event\": \"$2\"}" "$1"; then
      say "reported $2: $(cat /tmp/answer)"
      return 0
    fi
    say "POST $1 failed (try $n)"
    sleep 2
  done
  return 1
}

fetch() {
  n=0
  while [ $n -lt 5 ]; do
    n=$((n + 1))
    if timeout 600 wget -q -O "$2" "$1"; then return 0; fi
    say "GET $1 failed (try $n)"
    sleep 2
  done
  return 1
}

for m in $(cat /etc/modules); do
  insmod "/lib/modules/$m" || say "insmod $m failed"
done
RACKER_FAULTS=$(cat /sys/firmware/qemu_fw_cfg/by_name/opt/racker/faults/raw 2>/dev/null)
[ -z "$RACKER_FAULTS" ] || say "faults $RACKER_FAULTS"
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 50 ]; do n=$((n + 1)); sleep 0.2; done
ip link set lo up
ip link set eth0 up
say "dhcp on eth0 ($(cat /sys/class/net/eth0/address))"
udhcpc -i eth0 -s __HOOK__ -q -n -t 10 -T 2 -x hostname:racker-testos ||
  halt_here "no DHCP lease"

marker=$(head -c 512 /dev/vda 2>/dev/null | head -n 1 | tr -d '\000')
set -- $marker
if [ "$1" = "__MARKER__" ]; then
  mac=$2
  url=$3
  say "disk boot: installed system of $mac, ignition $url"
  fetch "$url" /tmp/ignition.json || halt_here "cannot fetch $url"
  say "ignition fetched ($(wc -c </tmp/ignition.json) bytes)"
  if has_fault ignition-fails; then
    say "ignition[702]: CRITICAL : Ignition failed: config is not valid (fault)"
    halt_here "emergency shell: Ignition has failed (fault)"
  fi
  has_fault no-boot-report && halt_here "running; boot report lost (fault)"
  ign_texts /tmp/ignition.json >/tmp/texts
  ev=$(events_url /tmp/texts)
  [ -n "$ev" ] || ev="$(base_of "$url")/racker/v1/nodes/$mac/events"
  post_event "$ev" booted || halt_here "cannot report booted"
  say "running"
  serial_shell
fi

url=$(cmdline_arg ignition.config.url) || halt_here "no ignition.config.url and no installed disk"
mac=$(mac_of_url "$url")
say "installer of $mac, ignition $url"
fetch "$url" /tmp/ignition.json || halt_here "cannot fetch $url"
say "ignition fetched ($(wc -c </tmp/ignition.json) bytes)"
ign_texts /tmp/ignition.json >/tmp/texts
ev=$(events_url /tmp/texts)
[ -n "$ev" ] || ev="$(base_of "$url")/racker/v1/nodes/$mac/events"
if grep -q racker-inventory /tmp/texts; then  # as racker's collector does, before installing
  { printf '{"event": "inventory", "inventory": '; inventory_json; printf '}'; } \
    >/tmp/inventory.json
  if timeout 60 wget -q -O /tmp/answer --header 'Content-Type: application/json' \
      --post-file /tmp/inventory.json "$ev"; then
    say "reported inventory ($(wc -c </tmp/inventory.json) bytes)"
  else
    say "the hardware inventory was not accepted"
  fi
fi
if grep -q racker-discovery /tmp/texts; then  # racker only wanted to know the hardware
  say "poweroff (discovery done)"
  poweroff -f
fi
if has_fault installer-fails; then
  # as racker's installer unit does: install-failed with the journal's tail, then stay up
  err="flatcar-install: Error: failed to write the image to /dev/vda: Input/output error (fault)"
  say "$err"
  j=$(printf '%s\n' "racker-installer: installing to /dev/vda" "$err" | base64 | tr -d '\n')
  timeout 60 wget -q -O /tmp/answer --header 'Content-Type: application/json' \
    --post-data "{\"event\": \"install-failed\", \"exit_status\": 1, \"journal_b64\": \"$j\"}" \
    "$ev" && say "reported install-failed"
  halt_here "flatcar-install failed (fault)"
fi
base=$(install_base /tmp/texts)
if [ -n "$base" ]; then
  version=$(install_version /tmp/texts)
  if [ "$version" = current ]; then
    fetch "$base/current/version.txt" /tmp/version.txt || halt_here "no version.txt"
    version=$(version_of /tmp/version.txt)
  fi
  image="$base/$version/flatcar_production_image.bin.bz2"
  fetch "$image" /tmp/image.bin.bz2 || halt_here "cannot download $image"
  say "image $version downloaded ($(wc -c </tmp/image.bin.bz2) bytes)"
  rm -f /tmp/image.bin.bz2
else
  say "no flatcar-install -b in the ignition; nothing to download"
fi
iurl=$(installed_url /tmp/texts)
[ -n "$iurl" ] || iurl="$(base_of "$url")/ignition?mac=$mac&os=installed"
printf '__MARKER__ %s %s\n' "$mac" "$iurl" | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null ||
  halt_here "cannot write /dev/vda"
say "installed to /dev/vda"
post_event "$ev" installed || halt_here "cannot report installed"
say "rebooting"
sync
reboot -f
"""


def init_script() -> str:
    """The test OS's `/init`."""
    return (INIT.replace("__LIB__", LIB_PATH).replace("__HOOK__", DHCP_HOOK_PATH)
            .replace("__MARKER__", MARKER))
