"""Tenants: the root of all data; created by operators (the CLI), with the first start's bootstrap."""
