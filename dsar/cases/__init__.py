"""The request and its life: the state machine, staff and requester actions, identity
proofs, the requester's links, reminders and who may do what."""
