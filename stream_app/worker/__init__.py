"""The streaming segment updater: a Faust worker over the pure RFM core (see docs/streaming.md)."""
