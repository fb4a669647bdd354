"""Plant simulator: a pure process model of the example plant behind real OPC UA and Modbus servers."""
