"""The Telegram side: python-telegram-bot application, handlers, the render worker and delivery."""
