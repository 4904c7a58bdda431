"""racker-sim: a simulated rack on network namespaces (virtual BMCs, lite nodes, faults).

Virtual BMC API (for the simulator and tests):

- `racker.sim.vbmc.server.serve(address, port, user, password, chassis, runner=..., **options)`
  starts one BMC and returns it (`.stop()`, `.faults`, `.users`, `.boot`, `.port`);
  `aserve(...)` / `VirtualBmc.astart()` do the same on a running asyncio loop.
- `racker.sim.vbmc.server.BmcRunner`: one event-loop thread shared by many BMCs.
- `racker.sim.vbmc.server.bind_udp_in_netns(netns, address, port)`: a socket inside a network
  namespace, to pass as `sock=` so one process serves BMCs in many namespaces.
- `racker.sim.vbmc.chassis.Chassis`: what a simulated node implements (power with the boot
  request, serial console both ways); `MemoryChassis` is a ready one with listeners.
- `racker.sim.vbmc.sessions.Faults`: drop, delay, reject_auth, no_session, lose_boot_flags,
  ignore_boot_flags; switchable at run time (`bmc.faults.drop = True`).
- `racker.sim.vbmc.redfish.server.serve_redfish(bmc, sock)`: the BMC's Redfish side over HTTPS
  on a bound TCP socket (`bind_tcp`, or `server.in_netns(netns, ...)`), sharing its state;
  `.rotate_cert()`, `.model.settings_only`; `bmc.lan_enabled = False` makes it Redfish-only.
"""

from __future__ import annotations
