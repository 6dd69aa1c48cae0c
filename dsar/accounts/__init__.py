"""Staff accounts: creation by set-up link, password policy, role changes, lock-out."""
