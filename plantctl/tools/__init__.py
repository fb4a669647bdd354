"""Engineering tools run beside the service, not inside it: loop tuning and closed-loop runs on the simulator."""
