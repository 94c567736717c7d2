"""Everything the bot says, in Chinese and English. Chinese for `zh*` language codes, else English."""

from __future__ import annotations

ZH, EN = "zh", "en"


def lang_of(language_code: str | None) -> str:
    return ZH if (language_code or "").lower().startswith("zh") else EN


_TEXTS: dict[str, dict[str, str]] = {
    "help": {
        ZH: "👋 我能把你的照片变成「蚂蚁呀嘿」视频。\n\n"
        "1. 发一张正脸清晰的照片（或以文件形式发送图片）；\n"
        "2. 点一个模板按钮；\n"
        "3. 稍等片刻，视频会回复在你的照片下。\n\n"
        "群组里：回复一张照片发送 /yahey（或把 /yahey 写在照片说明里）。\n"
        "命令：/templates 模板列表 · /status 我的任务 · /cancel 取消任务 · /help 帮助",
        EN: "👋 I turn your photo into the 蚂蚁呀嘿 (Ant Yahey) meme video.\n\n"
        "1. Send a photo with a clear, frontal face (or an image as a file);\n"
        "2. Press a template button;\n"
        "3. Wait a little: the video arrives as a reply to your photo.\n\n"
        "In groups: reply to a photo with /yahey (or put /yahey in the photo's caption).\n"
        "Commands: /templates list · /status your jobs · /cancel cancel · /help this help",
    },
    "cmd_start": {ZH: "开始使用", EN: "What this bot does"},
    "cmd_help": {ZH: "使用帮助", EN: "How to use it"},
    "cmd_templates": {ZH: "模板列表", EN: "List the templates"},
    "cmd_status": {ZH: "我的任务和队列", EN: "Your jobs and the queue"},
    "cmd_cancel": {ZH: "取消我的任务", EN: "Cancel your job"},
    "cmd_yahey": {ZH: "（群组）回复照片制作视频", EN: "(groups) reply to a photo to animate it"},
    "cmd_grid": {ZH: "（群组）大家一起发照片，做宫格视频", EN: "(groups) everyone's photos in one grid video"},
    "pick_template": {ZH: "选一个模板 👇", EN: "Pick a template 👇"},
    "pick_template_all": {ZH: "找到 {n} 张脸，都会一起唱。选一个模板 👇", EN: "{n} faces found: all of them will sing. Pick a template 👇"},
    "pick_template_some": {ZH: "找到 {n} 张脸，最大的 {k} 张会唱。选一个模板 👇", EN: "{n} faces found: the {k} largest will sing. Pick a template 👇"},
    "send_photo": {ZH: "请发一张照片（正脸、清晰），我来做成视频。", EN: "Please send me a photo (a clear, frontal face) and I'll animate it."},
    "yahey_needs_photo": {ZH: "请回复一张照片发送 /yahey，或把 /yahey 写在照片说明里。", EN: "Reply to a photo with /yahey, or send a photo with /yahey as its caption."},
    "not_image": {ZH: "这个文件不是图片，请发送照片。", EN: "That file is not an image; please send a photo."},
    "too_big": {ZH: "文件太大（超过 {mb} MB），请发送小一点的图片。", EN: "That file is too big (over {mb} MB); please send a smaller image."},
    "bad_image": {ZH: "这张图片无法打开（可能已损坏），请换一张。", EN: "I can't open that image (it may be corrupted); please try another one."},
    "image_too_large": {ZH: "图片像素太多（上限 {mp} 百万像素），请缩小后再发。", EN: "That image has too many pixels (limit {mp} megapixels); please send a smaller one."},
    "image_too_small": {ZH: "图片太小（短边至少 {px} 像素），请换一张大一点的。", EN: "That image is too small (at least {px} pixels on the short side); please send a larger one."},
    "download_failed": {ZH: "下载图片失败，请稍后再发一次。", EN: "I couldn't download that file; please send it again in a moment."},
    "no_templates": {ZH: "暂时没有可用的模板。", EN: "No templates are available right now."},
    "templates_list": {ZH: "可用模板：\n{items}", EN: "Templates:\n{items}"},
    "offer_expired": {ZH: "这个按钮已过期，请重新发送照片。", EN: "This button has expired; please send the photo again."},
    "not_yours": {ZH: "只有发起请求的人可以选择模板。", EN: "Only the person who asked can pick the template."},
    "template_gone": {ZH: "这个模板已经不存在了，请选择其他模板。", EN: "That template no longer exists; please pick another one."},
    "queued": {ZH: "⏳ 已排队（第 {pos} 位）：{title}", EN: "⏳ Queued (position {pos}): {title}"},
    "rendering": {ZH: "🎬 正在生成 {pct}%：{title}", EN: "🎬 Rendering {pct}%: {title}"},
    "sending": {ZH: "📤 正在发送：{title}", EN: "📤 Sending: {title}"},
    "done": {ZH: "✅ 完成：{title}", EN: "✅ Done: {title}"},
    "caption": {ZH: "🎵 {title}", EN: "🎵 {title}"},
    "already_active": {ZH: "你已经有一个任务（#{job}，{state}），请等它完成或发送 /cancel。", EN: "You already have a job (#{job}, {state}); wait for it or send /cancel."},
    "quota": {ZH: "今天的次数已用完（每天 {n} 次），明天再来吧。", EN: "You've used today's {n} videos; please come back tomorrow."},
    "queue_full": {ZH: "现在排队的人太多了，请稍后再试。", EN: "The queue is full right now; please try again later."},
    "no_face": {ZH: "😕 照片里没有找到人脸。请换一张正脸、清晰、光线好的照片。", EN: "😕 I couldn't find a face in that photo. Please try a clearer, frontal, well-lit one."},
    "delivery_failed": {ZH: "视频生成了，但发送失败。请稍后重新发送照片再试。", EN: "The video was made but could not be sent; please send the photo again later."},
    "waiting_telegram": {ZH: "⏳ 正在等待 Telegram 恢复，恢复后会立刻发给你。", EN: "⏳ Waiting for Telegram to answer; your video comes as soon as it does."},
    "render_failed_attempts": {ZH: "生成失败了（已尝试 {n} 次），请换一张照片再试。", EN: "Rendering failed ({n} tries); please try again with another photo."},
    "slow_down": {ZH: "你发得太快了，请稍等一分钟再发照片。", EN: "That's a lot of photos at once; please wait a minute before sending more."},
    "engine_down": {ZH: "抱歉，视频生成服务暂时不可用，请稍后再试。", EN: "Sorry, the video maker is down right now; please try again later."},
    "processing_failed": {ZH: "处理失败", EN: "processing failed"},
    "cancelled": {ZH: "🚫 已取消。", EN: "🚫 Cancelled."},
    "cancel_running": {ZH: "正在停止任务 #{job}…", EN: "Stopping job #{job}…"},
    "cancel_queued": {ZH: "任务 #{job} 已取消。", EN: "Job #{job} cancelled."},
    "cancel_none": {ZH: "你没有进行中的任务。", EN: "You have no job in progress."},
    "status_active": {ZH: "你的任务 #{job}：{state}（第 {pos} 位）。队列中共 {queue} 个任务。", EN: "Your job #{job}: {state} (position {pos}). {queue} job(s) in the queue."},
    "status_idle": {ZH: "你没有进行中的任务。队列中共 {queue} 个任务。", EN: "You have no job in progress. {queue} job(s) in the queue."},
    "status_recent": {ZH: "最近：{items}", EN: "Recent: {items}"},
    "state_queued": {ZH: "排队中", EN: "queued"},
    "state_running": {ZH: "生成中", EN: "rendering"},
    "state_delivering": {ZH: "发送中", EN: "sending"},
    "state_done": {ZH: "已完成", EN: "done"},
    "state_failed": {ZH: "失败", EN: "failed"},
    "state_cancelled": {ZH: "已取消", EN: "cancelled"},
    "admins_only": {ZH: "抱歉，这个命令只有管理员可以用。", EN: "Sorry, only the bot's admins can use that command."},
    "stats": {ZH: "任务：{by_status}\n平均生成时间：{avg}\n队列长度：{queue}", EN: "Jobs: {by_status}\nAverage render time: {avg}\nQueue length: {queue}"},
    "addtemplate_usage": {ZH: "用法：回复一个视频发送 /addtemplate 标题（或把它写在视频说明里）。", EN: "Usage: reply to a video with /addtemplate <title> (or put it in the video's caption)."},
    "addtemplate_queued": {ZH: "⏳ 模板「{title}」已排队，处理完会在这里告诉你。", EN: "⏳ Template \"{title}\" queued; the result will show here."},
    "template_added": {ZH: "✅ 新模板已添加：{title}（{id}）", EN: "✅ New template added: {title} ({id})"},
    "template_refused": {ZH: "❌ 这个视频不能做模板：{reason}", EN: "❌ That video can't be a template: {reason}"},
    "deltemplate_usage": {ZH: "用法：/deltemplate 模板ID（见 /templates）", EN: "Usage: /deltemplate <template id> (see /templates)"},
    "deltemplate_queued": {ZH: "⏳ 模板 {id} 将在当前视频生成完后删除。", EN: "⏳ Template {id} will be deleted after the current render."},
    "template_deleted": {ZH: "🗑 模板 {id} 已删除。", EN: "🗑 Template {id} deleted."},
    "template_unknown": {ZH: "没有这个模板：{id}", EN: "No such template: {id}"},
    "button_background": {ZH: "纯色背景", EN: "Plain background"},
    "background_on": {ZH: "纯色背景：开", EN: "Plain background: on"},
    "background_off": {ZH: "纯色背景：关", EN: "Plain background: off"},
    "background_fallback": {ZH: "没有认出人物轮廓，背景保持原样。", EN: "I couldn't make out the person, so the background stays as it was."},
    "album_pick": {ZH: "{n} 张照片，一起做成宫格视频。选一个模板 👇", EN: "{n} photos, one grid video. Pick a template 👇"},
    "album_skipped": {ZH: "第 {photos} 张照片里没有人脸，不放进去。", EN: "No face in photo {photos}: left out."},
    "grid_too_many": {ZH: "最多 {n} 张照片一起做。", EN: "At most {n} photos in one grid."},
    "grid_collecting": {ZH: "📸 宫格视频：回复这条消息发你们的照片（{min}–{max} 张）。", EN: "📸 A grid video: reply to this message with your photos ({min}–{max})."},
    "grid_count": {ZH: "已收到 {n} 张：{names}", EN: "{n} so far: {names}"},
    "grid_ready": {ZH: "发过照片的人都可以选模板 👇", EN: "Anyone who added a photo can pick the template 👇"},
    "grid_cancel": {ZH: "取消", EN: "Cancel"},
    "grid_cancelled": {ZH: "🚫 宫格视频已取消。", EN: "🚫 The grid was cancelled."},
    "grid_expired": {ZH: "⌛ 宫格视频已过期（{min} 分钟内没有选模板），发送 /grid 重新开始。", EN: "⌛ This grid expired (no template picked within {min} minutes); send /grid to start again."},
    "grid_full": {ZH: "这个宫格已经满了（{n} 张）。", EN: "This grid is full ({n} photos)."},
    "grid_needs_photo": {ZH: "请回复一张照片。", EN: "Please reply with a photo."},
    "grid_not_member": {ZH: "只有发过照片的人可以选模板。", EN: "Only people who added a photo can pick the template."},
    "grid_only_starter": {ZH: "只有发起的人可以取消。", EN: "Only the person who started it can cancel."},
    "grid_private_hint": {ZH: "/grid 用在群组里。私聊里请一次发 2–9 张照片（相册）。", EN: "/grid is for groups. Here, send 2–9 photos at once (an album)."},
    "grid_too_small": {ZH: "宫格需要至少两张有人脸的照片。", EN: "A grid needs at least two photos with a face."},
    "grid_skipped_note": {ZH: "（第 {photos} 张照片里没有人脸，没放进去）", EN: "(no face in photo {photos}: left out)"},
    "button_note": {ZH: "⭕ 圆形视频", EN: "⭕ Round video"},
    "button_sticker": {ZH: "🐜 贴纸", EN: "🐜 Sticker"},
    "button_gif": {ZH: "🎞 动图", EN: "🎞 GIF"},
    "button_pack": {ZH: "➕ 加入我的贴纸包", EN: "➕ Add to my pack"},
    "button_share": {ZH: "📤 分享", EN: "📤 Share"},
    "converting": {ZH: "⏳ 正在制作…", EN: "⏳ Making it…"},
    "conversion_on_its_way": {ZH: "已经在做了，马上就好。", EN: "It's on its way."},
    "render_expired": {ZH: "这个视频已过期，请重新发送照片。", EN: "This one has expired; send the photo again."},
    "conversion_failed": {ZH: "转换失败了，请稍后再试。", EN: "That conversion failed; please try again later."},
    "pack_title": {ZH: "我的蚂蚁呀嘿", EN: "My Ant Yahey"},
    "pack_added": {ZH: "✅ 已加入你的贴纸包：{link}", EN: "✅ Added to your sticker pack: {link}"},
    "pack_full": {ZH: "你的贴纸包满了（最多 {n} 个）。删掉一些再试。", EN: "Your sticker pack is full ({n} stickers); remove some and try again."},
    "pack_needs_chat": {ZH: "请先私聊我并点“开始”，我才能为你创建贴纸包。", EN: "Please open a private chat with me and press Start first; then I can make your sticker pack."},
    "inline_make_one": {ZH: "做一个蚂蚁呀嘿", EN: "Make one"},
    "inline_video_title": {ZH: "🎵 {title}", EN: "🎵 {title}"},
    "cmd_template": {ZH: "用自己的视频做模板：/template 名字", EN: "Make a template of your own clip: /template NAME"},
    "own_template_usage": {ZH: "用法：发一个视频（最长 {s} 秒），说明写 /template 名字；或回复一个视频、圆形视频发送 /template 名字（名字最多 {n} 个字）。",
                           EN: "Usage: send a clip (up to {s} s) with the caption /template NAME, or reply to a video or round video with /template NAME (a name of up to {n} characters)."},
    "own_template_hint": {ZH: "想用这段视频做自己的模板？回复它发送 /template 名字（最长 {s} 秒，要有一张脸）。想做视频就发一张照片。",
                          EN: "Want this clip as your own template? Reply to it with /template NAME (up to {s} s, one face). To make a video, send me a photo."},
    "own_template_bad_name": {ZH: "模板名字要一行、1–{n} 个字，例如 /template 摇摆。", EN: "A template name is one line of 1–{n} characters, e.g. /template Wiggle."},
    "own_template_name_taken": {ZH: "你已经有一个叫「{name}」的模板了，换个名字吧。", EN: "You already have a template named \"{name}\"; pick another name."},
    "own_template_too_long": {ZH: "视频太长了：模板最长 {s} 秒。", EN: "That clip is too long: a template lasts at most {s} seconds."},
    "own_template_too_large": {ZH: "视频太大了：模板最大 {mb} MB。", EN: "That clip is too large: a template is at most {mb} MB."},
    "own_template_too_many": {ZH: "你已经有 {n} 个模板（上限），先用 /templates 删掉一个。", EN: "You have {n} templates, the most allowed; delete one with /templates first."},
    "own_template_no_face": {ZH: "❌ 这段视频里没有找到人脸，模板需要一张清楚的脸。", EN: "❌ I couldn't find a face in that clip; a template needs one clear face."},
    "own_template_several_faces": {ZH: "❌ 这段视频里有好几张脸，模板只能有一张在动的脸。", EN: "❌ There are several faces in that clip; a template needs one face that moves."},
    "own_template_bad_video": {ZH: "❌ 这个视频不能做模板（可能已损坏）。", EN: "❌ I can't use that video as a template (it may be damaged)."},
    "own_template_duplicate": {ZH: "你已经有这段视频做的模板了：「{name}」。", EN: "You have this clip already, as \"{name}\"."},
    "own_template_queued": {ZH: "⏳ 正在制作模板「{name}」，好了会在这里告诉你。", EN: "⏳ Making your template \"{name}\"; I'll say here when it's ready."},
    "own_template_ready": {ZH: "✅ 模板「{name}」做好了：发一张照片，它就在按钮最前面。", EN: "✅ Your template \"{name}\" is ready: send a photo and it's first on the keyboard."},
    "own_templates_list": {ZH: "你的模板（{n}/{max}），点按钮删除：\n{items}", EN: "Your own templates ({n}/{max}); press one to delete it:\n{items}"},
    "own_templates_none": {ZH: "你还没有自己的模板：发一个视频（最长 {s} 秒），说明写 /template 名字。", EN: "No templates of your own yet: send a clip (up to {s} s) with the caption /template NAME."},
    "own_templates_all": {ZH: "用户的模板：\n{items}", EN: "Users' templates:\n{items}"},
    "own_templates_all_none": {ZH: "还没有用户的模板。", EN: "No user templates yet."},
    "button_delete_template": {ZH: "🗑 {name}", EN: "🗑 {name}"},
    "own_template_deleted": {ZH: "🗑 模板「{name}」已删除。", EN: "🗑 Template \"{name}\" deleted."},
    "own_template_not_yours": {ZH: "只有模板的主人可以删除它。", EN: "Only its owner can delete this template."},
    "own_template_gone": {ZH: "这个模板已经删除了。", EN: "That template is gone already."},
    "error": {ZH: "出了点问题，请稍后再试。", EN: "Something went wrong; please try again later."},
}


def t(lang: str, key: str, **values: object) -> str:
    entry = _TEXTS[key]
    text = entry.get(lang) or entry[EN]
    return text.format(**values) if values else text


def state(lang: str, status: str) -> str:
    return t(lang, f"state_{status}")
