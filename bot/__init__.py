"""The Telegram front end: the python-telegram-bot Application (app.py only wires), its handlers,
intake of photos, albums and grid collections, flood control and /forget. The work a request
becomes is the pipeline's (pipeline/)."""
