"""Inline mode: "@bot" typed in any chat lists the user's own results (videos, stickers, GIFs) by
their stored file_ids, newest first, for them only; with none yet, a button opens the bot."""

from __future__ import annotations

from telegram import (
    InlineQueryResult,
    InlineQueryResultCachedMpeg4Gif,
    InlineQueryResultCachedSticker,
    InlineQueryResultCachedVideo,
    InlineQueryResultsButton,
    Update,
)

from bot.context import BotContext
from bot.handlers.common import visit
from engine import OutputKind
from i18n.texts import t
from storage import jobs

MAX_RESULTS = 50  # Telegram's limit per answer
CACHE_SECONDS = 10  # a new sticker should show up almost at once


async def on_inline_query(update: Update, context: BotContext) -> None:
    query = update.inline_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    results: list[InlineQueryResult] = []
    seen: set[str] = set()
    for job in await jobs.delivered_results(svc.db, query.from_user.id, limit=200):
        file_id, kind = job.result_file_id, OutputKind(job.output_kind)
        if file_id is None or file_id in seen:
            continue
        title = t(lang, "inline_video_title", title=job.template_title or "")
        if kind == OutputKind.VIDEO:
            results.append(InlineQueryResultCachedVideo(f"v{job.id}", file_id, title))
        elif kind in (OutputKind.STICKER, OutputKind.PACK):
            results.append(InlineQueryResultCachedSticker(f"s{job.id}", file_id))
        elif kind == OutputKind.GIF:
            results.append(InlineQueryResultCachedMpeg4Gif(f"g{job.id}", file_id, title=title))
        else:  # round notes cannot be sent inline
            continue
        seen.add(file_id)
        if len(results) == MAX_RESULTS:
            break
    button = None if results else InlineQueryResultsButton(t(lang, "inline_make_one"), start_parameter="make")
    await query.answer(results, cache_time=CACHE_SECONDS, is_personal=True, button=button)
