"""E-mail: the outbox (what to send, written with the business change) and its delivery over
SMTP."""
