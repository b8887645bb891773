"""Webhooks: a tenant's subscriptions, the transactional outbox its events are queued in, and their delivery."""
