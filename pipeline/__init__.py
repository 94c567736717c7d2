"""The job pipeline: what happens to a request between the front end (bot/) accepting it and the
user holding its video. No handler code lives here; `python -m worker` runs these same stages.

A job's states (storage/models.py JobStatus). storage/jobs.py is the state machine: every change
is one conditional UPDATE that names the status it expects and the claim that holds the job (a
random token per claim, not the process's name), and the caller acts on whether it happened:

    (bot/intake.py, storage.jobs.enqueue)
              │
              ▼
          ┌────────┐  claim_render / claim_conversion   ┌─────────┐  hand_over   ┌────────────┐
          │ queued │ ─────────────────────────────────▶ │ running │ ───────────▶ │ delivering │
          └────────┘ ◀───────────────────────────────── └─────────┘              └────────────┘
            ▲  │ │    release_render: parked            │ │                     │ ▲   │   │
            │  │ │    (next_attempt_at), a shutdown,    │ │ mark_failed,        │ └───┘   │ claim_delivery,
            │  │ │    a retry (attempt counted)         │ │ mark_cancelled      │ resche- │ mark_done
            │  │ │                                      ▼ ▼                     │ dule    ▼
            │  │ └─ request_cancel ─▶ ┌───────────┐  ┌────────┐ ◀── mark_failed ┘      ┌──────┐
            │  │   (WHERE queued;     │ cancelled │  │ failed │ ◀── give_up_exhausted  │ done │
            │  │    else the flag)    └───────────┘  └────────┘     (attempts used up) └──────┘
            │  └─ lease expired (its stage died): taken over by the next claim
            └──── start-up release (one box): running jobs back in line

Claims count attempts (`attempts` for render and conversion, `delivery_attempts` for delivery)
and refuse a job that used `[limits].max_attempts` / `max_delivery_attempts`; such a job is failed
with a notice to its owner (at claim time by every stage, at start-up, by the reconciler). Waits
for Telegram give their attempt back. Leases are on the database's clock (storage/clock.py),
renewed every heartbeat by every stage while it works (the delivery stage around the send), and
their lengths are `[queue].*_lease_seconds`. A claim clears `next_attempt_at`; idle stages wait
for a wake-up or the next due time (a parked job, another process's lease running out).

Conversions (a round note, sticker, GIF of a kept render) are jobs of kind `convert` that go
queued → running (conversion stage, no render lock) → delivering → done the same way.

The way through the stages (one module each):
    dispatch.py         tells the stages a job is waiting (in-process wake-up, or a Celery task)
    stage_base.py       the skeleton every stage shares: give up jobs out of attempts, claim, lease
                        with heartbeat, work, any error turned into a decision (retry or fail), idle wait
    render_stage.py     queued → running → delivering: download (job_run.py), render, hand over;
                        template imports and deletions (template_jobs.py) under the same lock
    conversion_stage.py the same for conversions (render_choices.py, result_cache.py: what a
                        render with given options looks like and when two are interchangeable)
    delivery_stage.py   delivering → done: the send (result_senders.py, telegram_calls.py with
                        retry_policy.py), parked while Telegram is away; sticker_pack.py adds to
                        the user's pack; status_messages.py edits the "⏳ Queued → ✅ Done" line
    reconciler.py       re-announces jobs a lost broker message left waiting
    housekeeping.py     retention: rows, files and unused own templates (own_templates.py)
    assembly.py         builds the three stages of one process from settings
"""
