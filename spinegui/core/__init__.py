"""Headless core: no Qt, no torch. Everything here is testable without a display."""
