"""HTTP plumbing shared by every blueprint: envelopes, errors, headers, bodies."""
