"""One router per resource of the API, all under /api/v1 except the probes and /metrics."""
