"""The Sparkplug B edge node: a site publishes its tags to the fleet broker, spooling while it cannot."""
