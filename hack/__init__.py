"""Developer tooling: CRD generation, the node test bed, the Kubernetes API stand-in, demo, benchmarks."""
