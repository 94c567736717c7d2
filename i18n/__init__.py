"""The bot's texts in every language it speaks: texts.py (the English source, `t(lang, key)`),
languages.py (which language a user gets) and the gettext catalogues in locales/."""
