"""Sparkplug B 3.0 over MQTT: the payload codec (shared with the edge in plantctl.uplink) and the primary host."""
