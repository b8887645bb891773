"""API keys of a tenant: issued, listed and revoked by its admins; the credential Patchworks clients send."""
