"""Everything the bot says. The English source of each message is here, under a key; its
translations are in gettext catalogues, i18n/locales/<locale>/LC_MESSAGES/bot.po (the key is the
message's msgctxt, the English its msgid), compiled to the committed bot.mo next to each.
README "Languages" says how to add a message or a language (`make i18n`).

Messages are str.format templates: a translation keeps every {placeholder} of the English.
There are no plural forms: a count goes after a label ("Jobs in the queue: {queue}").
"""

from __future__ import annotations

from i18n.languages import EN, ZH, catalogue, lang_of

__all__ = ["EN", "ZH", "MESSAGES", "lang_of", "state", "t"]


def N_(key: str, text: str) -> tuple[str, str]:
    """Marks a message for `pybabel extract` (keyword N_:1c,2: the key is the context, the text the msgid)."""
    return key, text


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The messages by key; two with one key (say, from two merged branches) stop the import."""
    messages: dict[str, str] = {}
    for key, text in pairs:
        if key in messages:
            raise ValueError(f"two messages are keyed {key!r} in i18n/texts.py")
        messages[key] = text
    return messages


MESSAGES: dict[str, str] = _unique([
    N_("help",
       "👋 I turn your photo into the 蚂蚁呀嘿 (Ant Yahey) meme video.\n"
       "\n"
       "1. Send a photo with a clear, frontal face (or an image as a file);\n"
       "2. Press a template button;\n"
       "3. Wait a little: the video arrives as a reply to your photo.\n"
       "\n"
       "In groups: reply to a photo with /yahey (or put /yahey in the photo's caption).\n"
       "Commands: /templates list · /template NAME your own template · /status your jobs · /cancel cancel · /language "
       "language · /privacy your data · /help this help"),
    N_("cmd_start", "What this bot does"),
    N_("cmd_help", "How to use it"),
    N_("cmd_templates", "List the templates"),
    N_("cmd_status", "Your jobs and the queue"),
    N_("cmd_cancel", "Cancel your job"),
    N_("cmd_yahey", "(groups) reply to a photo to animate it"),
    N_("cmd_grid", "(groups) everyone's photos in one grid video"),
    N_("cmd_language", "Choose the bot's language"),
    N_("language_pick", "Choose the language I answer you in 👇"),
    N_("language_auto", "🌐 Telegram's language"),
    N_("language_set", "✅ From now on I answer you in English."),
    N_("language_auto_set", "✅ From now on I answer you in your Telegram app's language."),
    N_("language_not_yours", "Only the person who sent /language can choose here."),
    N_("pick_template", "Pick a template 👇"),
    N_("pick_template_all", "{n} faces found: all of them will sing. Pick a template 👇"),
    N_("pick_template_some", "{n} faces found: the {k} largest will sing. Pick a template 👇"),
    N_("send_photo", "Please send me a photo (a clear, frontal face) and I'll animate it."),
    N_("yahey_needs_photo", "Reply to a photo with /yahey, or send a photo with /yahey as its caption."),
    N_("not_image", "That file is not an image; please send a photo."),
    N_("too_big", "That file is too big (over {mb} MB); please send a smaller image."),
    N_("bad_image", "I can't open that image (it may be corrupted); please try another one."),
    N_("image_too_large", "That image has too many pixels (limit {mp} megapixels); please send a smaller one."),
    N_("image_too_small",
       "That image is too small (at least {px} pixels on the short side); please send a larger one."),
    N_("download_failed", "I couldn't download that file; please send it again in a moment."),
    N_("no_templates", "No templates are available right now."),
    N_("templates_list",
       "Templates:\n"
       "{items}"),
    N_("offer_expired", "This button has expired; please send the photo again."),
    N_("not_yours", "Only the person who asked can pick the template."),
    N_("template_gone", "That template no longer exists; please pick another one."),
    N_("queued", "⏳ Queued (position {pos}): {title}"),
    N_("rendering", "🎬 Rendering {pct}%: {title}"),
    N_("sending", "📤 Sending: {title}"),
    N_("done", "✅ Done: {title}"),
    N_("caption", "🎵 {title}"),
    N_("already_active", "You already have a job (#{job}, {state}); wait for it or send /cancel."),
    N_("quota", "You've used today's {n} videos; please come back tomorrow."),
    N_("queue_full", "The queue is full right now; please try again later."),
    N_("no_face", "😕 I couldn't find a face in that photo. Please try a clearer, frontal, well-lit one."),
    N_("delivery_failed", "The video was made but could not be sent; please send the photo again later."),
    N_("waiting_telegram", "⏳ Waiting for Telegram to answer; your video comes as soon as it does."),
    N_("render_failed_attempts", "Rendering failed ({n} tries); please try again with another photo."),
    N_("slow_down", "That's a lot of photos at once; please wait a minute before sending more."),
    N_("engine_down", "Sorry, the video maker is down right now; please try again later."),
    N_("processing_failed", "processing failed"),
    N_("cancelled", "🚫 Cancelled."),
    N_("cancel_running", "Stopping job #{job}…"),
    N_("cancel_queued", "Job #{job} cancelled."),
    N_("cancel_none", "You have no job in progress."),
    N_("status_active", "Your job #{job}: {state} (position {pos}). {queue} job(s) in the queue."),
    N_("status_idle", "You have no job in progress. {queue} job(s) in the queue."),
    N_("status_recent", "Recent: {items}"),
    N_("state_queued", "queued"),
    N_("state_running", "rendering"),
    N_("state_delivering", "sending"),
    N_("state_done", "done"),
    N_("state_failed", "failed"),
    N_("state_cancelled", "cancelled"),
    N_("admins_only", "Sorry, only the bot's admins can use that command."),
    N_("stats",
       "Jobs: {by_status}\n"
       "Average render time: {avg}\n"
       "Queue length: {queue}"),
    N_("addtemplate_usage", "Usage: reply to a video with /addtemplate <title> (or put it in the video's caption)."),
    N_("addtemplate_queued", "⏳ Template \"{title}\" queued; the result will show here."),
    N_("template_added", "✅ New template added: {title} ({id})"),
    N_("template_refused", "❌ That video can't be a template: {reason}"),
    N_("deltemplate_usage", "Usage: /deltemplate <template id> (see /templates)"),
    N_("deltemplate_queued", "⏳ Template {id} will be deleted after the current render."),
    N_("template_deleted", "🗑 Template {id} deleted."),
    N_("template_unknown", "No such template: {id}"),
    N_("button_background", "Plain background"),
    N_("background_on", "Plain background: on"),
    N_("background_off", "Plain background: off"),
    N_("background_fallback", "I couldn't make out the person, so the background stays as it was."),
    N_("album_pick", "{n} photos, one grid video. Pick a template 👇"),
    N_("album_skipped", "No face in photo {photos}: left out."),
    N_("grid_too_many", "At most {n} photos in one grid."),
    N_("grid_collecting", "📸 A grid video: reply to this message with your photos ({min}–{max})."),
    N_("grid_count", "{n} so far: {names}"),
    N_("grid_ready", "Anyone who added a photo can pick the template 👇"),
    N_("grid_cancel", "Cancel"),
    N_("grid_cancelled", "🚫 The grid was cancelled."),
    N_("grid_expired", "⌛ This grid expired (no template picked within {min} minutes); send /grid to start again."),
    N_("grid_full", "This grid is full ({n} photos)."),
    N_("grid_needs_photo", "Please reply with a photo."),
    N_("grid_not_member", "Only people who added a photo can pick the template."),
    N_("grid_only_starter", "Only the person who started it can cancel."),
    N_("grid_private_hint", "/grid is for groups. Here, send 2–9 photos at once (an album)."),
    N_("grid_too_small", "A grid needs at least two photos with a face."),
    N_("grid_skipped_note", "(no face in photo {photos}: left out)"),
    N_("button_note", "⭕ Round video"),
    N_("button_sticker", "🐜 Sticker"),
    N_("button_gif", "🎞 GIF"),
    N_("button_pack", "➕ Add to my pack"),
    N_("button_share", "📤 Share"),
    N_("converting", "⏳ Making it…"),
    N_("conversion_on_its_way", "It's on its way."),
    N_("conversion_one_at_a_time", "Your other conversion is still on its way: one at a time, please."),
    N_("conversion_slow_down", "That's a lot of presses; please wait a minute, then try again."),
    N_("render_expired", "This one has expired; send the photo again."),
    N_("conversion_failed", "That conversion failed; please try again later."),
    N_("pack_title", "My Ant Yahey"),
    N_("pack_added", "✅ Added to your sticker pack: {link}"),
    N_("pack_full", "Your sticker pack is full ({n} stickers); remove some and try again."),
    N_("pack_needs_chat",
       "Please open a private chat with me and press Start first; then I can make your sticker pack."),
    N_("inline_make_one", "Make one"),
    N_("inline_video_title", "🎵 {title}"),
    N_("error", "Something went wrong; please try again later."),
    N_("privacy_line", "🔒 Your photo is kept only until its video is made, videos for {days} days, seen only by you "
       "(and the group it was made in). /privacy for more, /forget deletes it all."),
    N_("privacy",
       "🔒 What I keep:\n"
       "• your photo: only until its video is made;\n"
       "• the video and its round video, sticker and GIF: deleted after {days} days;\n"
       "• your sticker pack: until you (or /forget) delete it;\n"
       "• your own templates: until you delete them or they expire.\n"
       "\n"
       "Who can see it: only you, and the group it was made in.\n"
       "To delete it all: send /forget; I delete everything of yours (jobs, files, sticker pack) and say what went."),
    N_("cmd_privacy", "What I keep and how to delete it"),
    N_("cmd_forget", "Delete everything of mine"),
    N_("forget_private_only", "Send /forget in a private chat with me."),
    N_("forget_confirm", "Delete everything I keep of yours? Queued and running jobs are cancelled; videos, stickers, "
       "GIFs and your sticker pack are deleted for good."),
    N_("forget_button_yes", "🗑 Delete everything"),
    N_("forget_button_no", "Cancel"),
    N_("forget_not_yours", "Only the person who asked can confirm."),
    N_("forget_started", "🗑 Deleting…"),
    N_("forget_kept", "OK, nothing was deleted."),
    N_("forget_in_progress", "Your data is being deleted; please wait until that is done."),
    N_("forget_done", "✅ Deleted: {jobs} job(s), {files} file(s), {photos} grid photo(s), sticker pack {pack}. I keep "
       "nothing of yours now."),
    N_("forget_pack_yes", "deleted"),
    N_("forget_pack_no", "(none)"),
    N_("cmd_template", "Make a template of your own clip: /template NAME"),
    N_("own_template_usage", "Usage: send a clip (up to {s} s) with the caption /template NAME, or reply to a video or "
       "round video with /template NAME (a name of up to {n} characters)."),
    N_("own_template_hint", "Want this clip as your own template? Reply to it with /template NAME (up to {s} s, one "
       "face). To make a video, send me a photo."),
    N_("own_template_bad_name", "A template name is one line of 1–{n} characters, e.g. /template Wiggle."),
    N_("own_template_name_taken", "You already have a template named \"{name}\"; pick another name."),
    N_("own_template_too_long", "That clip is too long: a template lasts at most {s} seconds."),
    N_("own_template_too_large", "That clip is too large: a template is at most {mb} MB."),
    N_("own_template_too_many", "You have {n} templates, the most allowed; delete one with /templates first."),
    N_("own_template_no_face", "❌ I couldn't find a face in that clip; a template needs one clear face."),
    N_("own_template_several_faces", "❌ There are several faces in that clip; a template needs one face that moves."),
    N_("own_template_bad_video", "❌ I can't use that video as a template (it may be damaged)."),
    N_("own_template_duplicate", "You have this clip already, as \"{name}\"."),
    N_("own_template_queued", "⏳ Making your template \"{name}\"; I'll say here when it's ready."),
    N_("own_template_ready", "✅ Your template \"{name}\" is ready: send a photo and it's first on the keyboard."),
    N_("own_templates_list",
       "Your own templates ({n}/{max}); press one to delete it:\n"
       "{items}"),
    N_("own_templates_none",
       "No templates of your own yet: send a clip (up to {s} s) with the caption /template NAME."),
    N_("own_templates_all",
       "Users' templates:\n"
       "{items}"),
    N_("own_templates_all_none", "No user templates yet."),
    N_("button_delete_template", "🗑 {name}"),
    N_("own_template_deleted", "🗑 Template \"{name}\" deleted."),
    N_("own_template_not_yours", "Only its owner can delete this template."),
    N_("own_template_gone", "That template is gone already."),
])


def t(lang: str, key: str, **values: object) -> str:
    """The message `key` in `lang` (a code of i18n.languages.LANGUAGES; any other gets English), with
    `values` filled in."""
    text = str(catalogue(lang).pgettext(key, MESSAGES[key]))  # Babel types it `str | object`
    return text.format(**values) if values else text


def state(lang: str, status: str) -> str:
    return t(lang, f"state_{status}")
