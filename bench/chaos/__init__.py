"""Fault injection on a real network: ``python -m bench.chaos`` (``make chaos``).

Runs a local network of real validator processes (LevelDB, sockets, the CLI's own network
init) under a steady load, applies a seeded nemesis schedule — kill -9 and restart (the primary
too), SIGSTOP/SIGCONT of one or two backups, cut p2p links, a Byzantine validator, a torn
consensus WAL and a full data disk — and then checks the consensus invariants (tests/consensus and the project's scenario list)
against what every node serves over HTTP: agreement, no
acknowledged tx lost or committed twice, liveness after the last heal, no honest node crashed
or grew its memory without bound, and every Byzantine act logged.
"""
