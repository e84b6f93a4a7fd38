"""Huddle: secure two-way messaging for integrated behavioral health."""

__version__ = "0.1.0"
