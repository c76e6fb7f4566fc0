"""The system's core: settings, database, logs, the Temporal connection, the SMS and call adapter (Twilio), masking and text bounds."""
