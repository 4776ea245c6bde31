"""The broker application: settings, database, services, HTTP API, CLI.

Domain rules live in the sibling packages (`agreements`, `policies`, `pseudonymise`, `disclosure`,
`audit`); this package wires them to storage and the outside world.
"""
