"""racker-sim: a simulated rack on network namespaces (virtual BMCs, lite nodes, faults)."""
