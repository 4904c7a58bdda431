"""The rack simulator: virtual BMCs (`racker.sim.vbmc`) and simulated nodes behind them."""

from __future__ import annotations
