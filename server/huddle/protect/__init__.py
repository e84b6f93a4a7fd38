"""Protection of PHI and accounts: access policy (and, next, crypto and audit).

Nothing here imports a domain package: policy decides from facts the caller hands it.
"""
