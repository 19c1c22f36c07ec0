"""Client tools around a running deployment: replay a file, wait for sync, look up profiles, synthesize events."""
