"""Kafka: the topics rfm-stream creates and the messages it writes to them."""
