"""The hardware inventory collector: a shell script the installer runs before installing (pure).

It needs nothing beyond what the Flatcar PXE image has (bash, coreutils, grep, awk, sed,
util-linux's `lsblk`, iproute2's `ip`): it reads /sys and /proc and prints one JSON document of
raw facts on stdout, which `racker.core.hardware.parse_hardware` turns into an inventory on
racker's side. The strings it copies (SMBIOS fields, paths) are JSON-escaped by `js`; the
`lsblk -J` and `ip -j` outputs are JSON already and are embedded verbatim.

`RACKER_ROOT` (unset on nodes) points /sys and /proc at a folder, for tests.
"""

from __future__ import annotations

COLLECTOR_SCRIPT = "/opt/racker-inventory"

_SCRIPT = r"""#!/bin/bash
# racker's hardware inventory collector: raw facts as one JSON document on stdout
set -u
root="${RACKER_ROOT:-}"
js() { printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | head -c 256 \
  | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
rd() { head -c 256 "$1" 2>/dev/null | tr -d '\n' || true; }
num() { case "$1" in ''|*[!0-9]*) printf 0 ;; *) printf '%s' "$1" ;; esac; }
dmi="$root/sys/class/dmi/id"
printf '{"system":{"uuid":%s,"vendor":%s,"model":%s,"serial":%s},' \
  "$(js "$(rd "$dmi/product_uuid")")" "$(js "$(rd "$dmi/sys_vendor")")" \
  "$(js "$(rd "$dmi/product_name")")" "$(js "$(rd "$dmi/product_serial")")"
cpuinfo="$root/proc/cpuinfo"
cpu_model=$(grep -m1 '^model name' "$cpuinfo" 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
threads=$(grep -c '^processor' "$cpuinfo" 2>/dev/null)
cores=$(awk -F: '/^physical id/{p=$2} /^core id/{print p":"$2}' "$cpuinfo" 2>/dev/null \
  | sort -u | wc -l)
printf '"cpu":{"model":%s,"cores":%s,"threads":%s},' \
  "$(js "$cpu_model")" "$(num "$cores")" "$(num "$threads")"
mem="$root/sys/devices/system/memory"
blocks=$(cat "$mem"/memory*/online 2>/dev/null | grep -c '^1$')
total_kb=$(awk '/^MemTotal:/{print $2}' "$root/proc/meminfo" 2>/dev/null)
printf '"memory":{"blocks":%s,"block_size_hex":%s,"total_kb":%s},' \
  "$(num "$blocks")" "$(js "$(rd "$mem/block_size_bytes")")" "$(num "$total_kb")"
blk=$(lsblk -J -b -d -o NAME,SIZE,MODEL,SERIAL,ROTA,TYPE 2>/dev/null)
printf '"lsblk":%s,' "${blk:-null}"
links=$(ip -j link show 2>/dev/null)
printf '"links":%s,' "${links:-null}"
printf '"disk_links":['
sep=
for l in "$root"/dev/disk/by-path/* "$root"/dev/disk/by-id/*; do
  [ -L "$l" ] || continue
  printf '%s{"link":%s,"target":%s}' "$sep" "$(js "${l#"$root"}")" \
    "$(js "$(readlink -f "$l")")"
  sep=,
done
printf '],"nics":['
sep=
for d in "$root"/sys/class/net/*; do
  [ -e "$d/device" ] || continue
  drv=$(readlink "$d/device/driver" 2>/dev/null)
  speed=$(rd "$d/speed")
  case "$speed" in -*) speed= ;; esac  # -1: no link, speed unknown
  printf '%s{"name":%s,"driver":%s,"speed":%s,"carrier":%s}' "$sep" "$(js "${d##*/}")" \
    "$(js "${drv##*/}")" "$(js "$speed")" "$(js "$(rd "$d/carrier")")"
  sep=,
done
printf ']}\n'
"""


def collector_script() -> str:
    """The collector's shell script (prints the raw inventory document)."""
    return _SCRIPT
