"""OPC UA source: subscriptions or polling, security, status-code mapping and address-space browsing."""
