"""Identity: organizations, users, roles, passwords, sessions, tokens and MFA."""
