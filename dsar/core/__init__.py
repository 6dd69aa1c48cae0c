"""The shared low-level pieces every room stands on: keys, tokens, encrypted storage, the
audit trail and its anchors, upload checks, TOTP codes, streaming a blob to a browser."""
