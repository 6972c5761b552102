"""Scoring the registry: inputs built from the registry and the facts as of a date, scored
by a published policy, stored as an immutable run; a resident's score with its explanation."""
