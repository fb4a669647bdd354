"""The service's runtime: sources fan their sample batches out to the historian, live cache, alarms and loops."""
