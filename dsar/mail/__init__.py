"""E-mail: the outbox (what to send, written with the business change, enqueued after its
commit), what each e-mail says (composed at send time) and its sending over SMTP."""
