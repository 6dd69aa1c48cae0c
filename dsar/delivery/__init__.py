"""Delivering the answer: release, one-time download codes, expiry, and transmission of a
portability package to another controller."""
