"""Command-line front ends: `racker`, `ipmi`, `racker-sim`."""
