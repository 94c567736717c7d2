"""Operating the processes: the HTTP server (/healthz, /metrics, the webhook route), the one health
report (ops/health.py) and the one start-up (ops/process.py) that `python -m bot` and
`python -m worker` share, Prometheus metrics, token-masking logging and the start-up checks.
Nothing here knows the pipeline or Telegram's front end."""
