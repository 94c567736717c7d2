"""Update handlers: each parses the update, calls a service, answers. Registered in bot/app.py."""
