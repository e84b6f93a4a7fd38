"""Care: patients (the first PHI), their care teams, and break-glass access."""
