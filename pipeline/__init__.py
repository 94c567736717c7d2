"""The job pipeline: what happens to a request between the front end (bot/) accepting it and the
user holding its video. No handler code lives here; `python -m worker` runs these same stages.

A job's states (storage/models.py JobStatus; every change is one conditional UPDATE in
storage/jobs.py that names the state it expects and the claim that holds the job):

    (bot/intake.py, storage.jobs.enqueue)
              │
              ▼
          ┌────────┐  claim (lease)   ┌─────────┐  rendered, handed over  ┌────────────┐
          │ queued │ ───────────────▶ │ running │ ──────────────────────▶ │ delivering │
          └────────┘ ◀─────────────── └─────────┘                         └────────────┘
            ▲  │ │    released: parked      │ │                              │  │  │
            │  │ │    (next_attempt_at),    │ │ failed after max_attempts,   │  │  │ sent
            │  │ │    a shutdown, a retry   │ │ refused input, cancel flag   │  │  ▼
            │  │ │                          ▼ ▼                              │  │ ┌──────┐
            │  │ └──── /cancel ─────▶ ┌───────────┐  ┌────────┐ ◀──────────┘  │ │ done │
            │  │                      │ cancelled │  │ failed │  deadline /   │ └──────┘
            │  └─ lease expired ──┐   └───────────┘  └────────┘  refused      │
            └─────────────────────┘  (its stage died: taken over)            parked while
                                                                             Telegram is away

Conversions (a round note, sticker, GIF of a kept render) are jobs of kind `convert` that go
queued → running (conversion stage, no render lock) → delivering → done the same way.

The way through the stages (one module each):
    dispatch.py         tells the stages a job is waiting (in-process wake-up, or a Celery task)
    stage_base.py       the skeleton every stage shares: claim, lease, run, retry or fail, idle wait
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
    renderer.py         what the stages need of the engine: the Renderer protocol (EngineRenderer
                        is the real engine; the tests' fake engine is another)
"""
