"""The admins' template jobs, run by the render stage under its lock: /addtemplate imports a video
(downloaded, checked, its motion prepared, published with one rename), /deltemplate removes one
(never while a render uses it, with its cached motion)."""

from __future__ import annotations

import asyncio
import logging

from bot import metrics
from bot.job_run import JobRun
from bot.texts import t
from engine import (BadTemplateVideo, Engine, EngineError, NoFaceFound, RenderCancelled, TemplateMissing,
                    delete_template, import_template, load_template)
from storage import jobs

log = logging.getLogger(__name__)


async def import_template_job(run: JobRun, engine: Engine) -> None:
    job, lang = run.job, run.lang
    video = run.work / "video.mp4"
    if not await run.fetch_input(video):
        return
    limits = run.settings.limits
    try:
        # The job's id names the import: a restart in the middle reuses its folder, and a run that
        # got as far as publishing is not published twice.
        template = await asyncio.to_thread(
            import_template, video, job.template_title or "template", run.settings.templates.dir, engine,
            limits.template_min_seconds, limits.template_max_seconds, import_id=f"job-{job.id}", cancel=run.token)
    except RenderCancelled:
        await run.stopped()
        return
    except (BadTemplateVideo, NoFaceFound) as err:  # the engine's reason, verbatim
        await run.fail("template_refused", str(err), reason=str(err))
        return
    except EngineError as err:
        await run.fail("template_refused", str(err), reason=t(lang, "processing_failed"))
        return
    await jobs.set_template(run.db, job.id, template.id)
    await jobs.mark_done(run.db, job.id)
    metrics.job_entered("done", job.kind)
    log.info("job %s imported template %s", job.id, template.id)
    await run.status.final(t(lang, "template_added", title=template.title_for(lang), id=template.id),
                           job.source_message_id)


async def delete_template_job(run: JobRun, engine: Engine) -> None:
    job, lang = run.job, run.lang
    try:
        template = load_template(job.template_id or "", run.settings.templates.dir)
    except TemplateMissing:
        await run.fail("template_unknown", "template missing", id=job.template_id)
        return
    await asyncio.to_thread(delete_template, template, engine)
    await jobs.mark_done(run.db, job.id)
    metrics.job_entered("done", job.kind)
    log.info("job %s deleted template %s", job.id, template.id)
    await run.status.final(t(lang, "template_deleted", id=template.id), job.source_message_id)
