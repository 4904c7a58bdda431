"""Developer tools: `make demo` and the sample racks of the benchmarks."""
