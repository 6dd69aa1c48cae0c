"""What every HTTP request goes through: security headers, error pages, access-log redaction."""
