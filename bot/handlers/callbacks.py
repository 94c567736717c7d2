"""Buttons under a photo: a template pressed (answered from the cache or queued), or the plain
background switched. Only the requester's presses, in the offer's own chat, count; each is
answered at once."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, MaybeInaccessibleMessage, Update
from telegram.error import TelegramError

from bot import intake
from bot.context import BotContext, Services
from bot.handlers.common import visit
from bot.refusal import Refusal
from i18n.texts import t
from pipeline import own_templates
from pipeline.keyboards import find_template, parse_background, parse_callback, template_keyboard
from storage import Offer, offers
from storage.models import OfferKind

log = logging.getLogger(__name__)


async def _offer_in_chat(svc: Services, query: CallbackQuery, offer_id: int | None,
                         lang: str) -> tuple[Offer, MaybeInaccessibleMessage] | None:
    """The offer a button names and the message the button is under; None (after an alert) when
    the offer is gone or belongs to another chat (a forged or foreign button)."""
    row = await offers.get(svc.db, offer_id) if offer_id is not None else None
    shown = query.message
    if row is None or shown is None or shown.chat.id != row.chat_id:
        await query.answer(t(lang, "offer_expired"), show_alert=True)
        return None
    return row, shown


async def on_template_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    parsed = parse_callback(query.data or "")
    found = await _offer_in_chat(svc, query, parsed[0] if parsed else None, lang)
    if found is None or parsed is None:  # no offer named: answered in _offer_in_chat
        return
    row, shown = found
    presser = query.from_user.id
    if row.kind == OfferKind.GRID:  # a group's collection: anyone who added a photo
        if presser not in {p.user_id for p in offers.photos_of(row)}:
            await query.answer(t(lang, "grid_not_member"), show_alert=True)
            return
    elif presser != row.owner_id:
        await query.answer(t(lang, "not_yours"), show_alert=True)
        return
    # Only what this chat shows this presser: another owner's template is refused like a gone one.
    visible = await own_templates.visible_templates(svc.db, svc.settings, row.chat_id, presser)
    template = find_template(parsed[1], row.id, visible)
    if template is None:
        await query.answer(t(lang, "template_gone"), show_alert=True)
        return
    if row.kind == OfferKind.GRID and await offers.close(svc.db, row.id) is None:  # someone pressed first
        await query.answer(t(lang, "offer_expired"), show_alert=True)
        return
    await query.answer()
    await own_templates.used(svc.db, row.chat_id, presser, template)
    # The keyboard (or collecting) message becomes the job's status message.
    status_id = shown.message_id
    try:
        if row.kind == OfferKind.PHOTO:
            outcome = await intake.request_render(svc, row, template, lang, status_id)
        else:  # the grid replies to the album's first photo, or to the collecting message
            reply_to = row.photo_message_id if row.kind == OfferKind.ALBUM else status_id
            outcome = await intake.request_grid(svc, row, template, presser, lang, status_id, reply_to)
    except Refusal as refusal:
        if row.kind == OfferKind.GRID:
            await offers.reopen(svc.db, row.id)
        await context.bot.send_message(row.chat_id, refusal.text(lang))
        return
    title = template.title_for(lang)
    text = (t(lang, "sending", title=title) if isinstance(outcome, intake.Cached)
            else t(lang, "queued", pos=outcome.position, title=title))
    try:
        await query.edit_message_text(text)
    except TelegramError as err:
        log.info("job %s: status message not edited: %s", outcome.job.id, err)


async def on_background_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    svc, lang = await visit(update, context)
    found = await _offer_in_chat(svc, query, parse_background(query.data or ""), lang)
    if found is None:
        return
    row, _ = found
    if query.from_user.id != row.owner_id:
        await query.answer(t(lang, "not_yours"), show_alert=True)
        return
    chosen = await offers.toggle_background(svc.db, row.id)
    await query.answer(t(lang, "background_on" if chosen else "background_off"))
    try:
        visible = await own_templates.visible_templates(svc.db, svc.settings, row.chat_id, row.owner_id)
        await query.edit_message_reply_markup(template_keyboard(row.id, visible, lang, chosen))
    except TelegramError as err:
        log.info("offer %s: keyboard not updated: %s", row.id, err)
