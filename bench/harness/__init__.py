"""Pieces of the throughput/latency harness behind ``python -m bench.run``.

One job per module: ``stats`` (percentiles, steady-window TPS), ``schedule`` (when each batch
leaves), ``accounting`` (every tx to its commit or its rejection), ``presign`` (signing ahead of
the timed phase, cached on disk), ``workloads`` (what each tx calls), ``machine`` (the machine and
the verify bound), ``procstat`` (CPU per process), ``cluster`` (a local network of real node
processes), ``load`` (the timed phase), ``report`` (table, JSON, PNG).
"""
