"""The template jobs, run by the render stage under its lock: /addtemplate imports a video
(downloaded, checked, its motion prepared, published with one rename), /deltemplate removes one
(never while a render uses it, with its cached motion); a user's /template NAME is the same import
into [user_templates].dir, in a folder named by the clip's content, recorded for its owner."""

from __future__ import annotations

import asyncio
import logging

from engine import (
    BadTemplateVideo,
    Engine,
    EngineError,
    NoFaceFound,
    RenderCancelled,
    TemplateMissing,
    TemplateNoFace,
    TemplateSeveralFaces,
    TemplateTooLong,
    delete_template,
    import_template,
    load_template,
)
from engine.hashing import sha256_file
from i18n.texts import t
from ops import metrics
from pipeline import own_templates
from pipeline.job_run import JobRun
from storage import jobs, owned_templates
from storage.owned_templates import Owner

log = logging.getLogger(__name__)


async def import_template_job(run: JobRun, engine: Engine) -> None:
    job, lang = run.job, run.lang
    video = run.work / "video.mp4"
    if not await run.fetch_input(video):
        return
    limits = run.settings.limits
    try:
        # The job's import id (random, kept with the job) names the import: a restart in the middle
        # reuses its folder, and a run that got as far as publishing is not published twice.
        template = await asyncio.to_thread(
            import_template, video, job.template_title or "template", run.settings.templates.dir, engine,
            limits.template_min_seconds, limits.template_max_seconds, import_id=job.import_id or f"job-{job.id}",
            cancel=run.token)
    except RenderCancelled:
        await run.stopped()
        return
    except (BadTemplateVideo, NoFaceFound) as err:  # the engine's reason, verbatim
        await run.fail("template_refused", str(err), reason=str(err))
        return
    except EngineError as err:
        await run.fail("template_refused", str(err), reason=t(lang, "processing_failed"))
        return
    if not (await jobs.set_template(run.db, job, template.id) and await jobs.mark_done(run.db, job)):
        run.lost()
        return
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
    if not await jobs.mark_done(run.db, job):
        run.lost()
        return
    metrics.job_entered("done", job.kind)
    log.info("job %s deleted template %s", job.id, template.id)
    await run.status.final(t(lang, "template_deleted", id=template.id), job.source_message_id)


async def import_own_template_job(run: JobRun, engine: Engine) -> None:
    """/template NAME: the admins' import, with the users' limits, into the clip's own folder (an
    owner who has the clip already is told its name; another owner's copy is reused), then the row."""
    job, lang = run.job, run.lang
    cfg = run.settings.user_templates
    name = job.template_title or "template"
    video = run.work / "video.mp4"
    if not await run.fetch_input(video):
        return
    if video.stat().st_size > cfg.max_mb * 1024 * 1024:
        await run.fail("own_template_too_large", "too large", mb=cfg.max_mb)
        return
    digest = await asyncio.to_thread(sha256_file, video)
    folder = own_templates.folder_for(digest)
    # Named by the job from now on: a clean-up meanwhile never takes the folder it publishes.
    if not await jobs.set_template(run.db, job, own_templates.job_template_id(folder)):
        run.lost()
        return
    try:
        await asyncio.to_thread(
            import_template, video, folder, cfg.dir, engine, run.settings.limits.template_min_seconds,
            cfg.max_seconds, import_id=job.import_id or f"job-{job.id}", cancel=run.token, folder_name=folder,
            one_face=True)
    except RenderCancelled:
        await run.stopped()
        return
    except TemplateTooLong as err:
        await run.fail("own_template_too_long", str(err), s=f"{cfg.max_seconds:g}")
        return
    except (TemplateNoFace, NoFaceFound) as err:
        await run.fail("own_template_no_face", str(err))
        return
    except TemplateSeveralFaces as err:
        await run.fail("own_template_several_faces", str(err))
        return
    except EngineError as err:  # unreadable, damaged
        await run.fail("own_template_bad_video", str(err))
        return
    owner = Owner.of_chat(job.chat_id, job.user_id)
    try:
        await owned_templates.add(run.db, owner, job.user_id, name, folder, digest, cfg.per_owner)
    except owned_templates.AlreadyOwned as err:
        await run.fail("own_template_duplicate", str(err), name=err.row.name)
        return
    except owned_templates.NameTaken as err:
        await run.fail("own_template_name_taken", str(err), name=name)
        await own_templates.sweep(run.db, run.settings, engine)
        return
    except owned_templates.TooManyTemplates as err:
        await run.fail("own_template_too_many", str(err), n=err.limit)
        await own_templates.sweep(run.db, run.settings, engine)
        return
    if not await jobs.mark_done(run.db, job):
        run.lost()
        return
    metrics.job_entered("done", job.kind)
    log.info("job %s imported template %s for %s %s", job.id, folder, owner.kind, owner.id)
    await run.status.final(t(lang, "own_template_ready", name=name), job.source_message_id)
