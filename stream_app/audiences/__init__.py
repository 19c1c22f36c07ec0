"""Audiences: named, declarative rules over a customer's scored profile."""

from stream_app.audiences.rules import DEFAULT_AUDIENCES, Audience, AudienceRules, Condition, load, parse

__all__ = ["DEFAULT_AUDIENCES", "Audience", "AudienceRules", "Condition", "load", "parse"]
