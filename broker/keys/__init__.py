"""The keyring: per-agreement linkage and broker keys, sealed at rest, versioned and rotatable."""
