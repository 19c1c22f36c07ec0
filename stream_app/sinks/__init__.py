"""Where the streaming worker's results go: Redis profiles, segment-change events, dead letters."""
