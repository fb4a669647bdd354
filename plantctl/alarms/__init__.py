"""Alarm management after ISA-18.2 and OPC UA Part 9: detection, states, journal and health."""
