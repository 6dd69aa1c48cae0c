"""The post-mortem rights of French law (Loi Informatique et Libertés, arts. 84–86):
directives left by a living person, and their execution after death (docs/postmortem.md)."""
