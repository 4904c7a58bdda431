"""BMC control: small driver interfaces, pure IPMI codecs and the pyghmi-based IPMI driver.

`interfaces` holds the contracts (power, boot device, chassis, console, users, raw) and the
typed results; `codec` the pure byte-level encoding; `ipmi` the one I/O module for IPMI 2.0
lanplus; `registry` picks a driver by name; `rotate` is the credential rotation use case.
"""

from __future__ import annotations
