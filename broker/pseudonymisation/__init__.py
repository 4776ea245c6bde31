"""The agency-side tool: ``broker pseudonymise`` turns an identifiable extract into tokens."""
