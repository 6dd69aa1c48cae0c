"""Carrying out a right that changes data (docs/erasure.md): the plan built from the search,
approved by a DPO (:mod:`.plan`), carried out source by source and verified by a new search
(:mod:`.execution`), answered by a certificate (:mod:`.answer`)."""
