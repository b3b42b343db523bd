"""Schemathesis against the live app: python -m fuzz.api (make api-fuzz)."""
