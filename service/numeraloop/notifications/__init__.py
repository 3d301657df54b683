"""E-mails the product sends to its users: new-message alerts (new_messages), over SMTP_URL (mail)."""
