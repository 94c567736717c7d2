"""Operating the processes: the HTTP server (/healthz, /metrics, the webhook route), Prometheus
metrics, token-masking logging and the start-up checks shared by `python -m bot` and
`python -m worker`. Nothing here knows the pipeline or Telegram's front end."""
