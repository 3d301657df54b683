"""Everything NumeraLoop knows about talking to Twilio, in one package.

client        twilio-python pointed at TWILIO_API_BASE_URL, and Twilio errors as values
credentials   a workspace's Twilio secrets: stored encrypted, decrypted only for the call
access        the client for a workspace's credentials, and Twilio failures as API errors
signature     X-Twilio-Signature checking for every /twilio request
webhook_urls  the URLs NumeraLoop gives Twilio (numbers, TwiML app, status callbacks)
webhooks      the /twilio blueprint that the capabilities' Twilio routes hang under
"""
