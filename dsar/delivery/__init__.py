"""Delivering the answer: release, the requester's download with one-time codes, expiry, and
transmission of a portability package to another controller."""
