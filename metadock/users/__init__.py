"""Users of a tenant, their login (``POST /fabric/api/login``) and the JWTs it issues."""
