"""Datasets -> canonical order events.

Each adapter reads one file format and returns an :class:`EventFrame` (the
events as columns, exact integer units), which the batch job scores directly
and `rfm-stream events` / `replay` turn into JSON events.
"""
