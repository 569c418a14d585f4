"""Job execution as a library: one runner for the embedded worker and the command line; only the sink differs."""
