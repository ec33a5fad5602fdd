"""The chain's data model: on-chain types, canonical encoding, reason codes, genesis, key layout, key files."""
