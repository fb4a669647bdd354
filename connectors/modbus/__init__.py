"""Modbus TCP source: codec, request planner and the polling source."""
