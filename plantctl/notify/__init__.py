"""On-call alarm notification: rosters, escalation pipelines, a durable outbox, channels and ack links."""
