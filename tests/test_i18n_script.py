"""scripts/i18n.py on a copy of the texts and catalogues: texts written the old way (a ZH + EN dict)
are absorbed, translated with `fill`, and after `update` every catalogue is complete again."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from i18n.languages import LANGUAGES
from scripts.i18n import absorb, fill, update
from tests.bot.test_catalogues import catalogue_problems

ROOT = Path(__file__).resolve().parent.parent

OLD_TEXTS = '''
from __future__ import annotations

ZH, EN = "zh", "en"

_TEXTS: dict[str, dict[str, str]] = {
    "cancelled": {ZH: "🚫 已取消。", EN: "🚫 Cancelled."},
    "done": {ZH: "✅ 完成：{title}", EN: "✅ Finished: {title}"},
    "sample_ready": {ZH: "✅ 模板「{name}」好了。", EN: "🧪 Sample batch {name} finished baking."},
    "privacy_info": {ZH: "我们保存：\\n• 你的 ID\\n• 你的照片 {days} 天",
                     EN: "We keep:\\n• your id\\n• your photos for {days} days"},
}
'''


def _messages(root: Path) -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("copied_texts", root / "i18n" / "texts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MESSAGES


def test_old_texts_are_absorbed_translated_and_compiled(tmp_path: Path, capsys) -> None:
    root = tmp_path / "repo"
    (root / "i18n").mkdir(parents=True)
    shutil.copy(ROOT / "i18n" / "texts.py", root / "i18n" / "texts.py")
    shutil.copytree(ROOT / "i18n" / "locales", root / "i18n" / "locales", ignore=shutil.ignore_patterns("*.pot"))
    old = tmp_path / "old_texts.py"
    old.write_text(OLD_TEXTS, encoding="utf-8")

    assert absorb(old, root) == ["sample_ready", "privacy_info"]
    assert "English differs, left as it is: done" in capsys.readouterr().out
    messages = _messages(root)
    assert messages["sample_ready"] == "🧪 Sample batch {name} finished baking."
    assert messages["privacy_info"] == "We keep:\n• your id\n• your photos for {days} days"
    update(root)
    problems = catalogue_problems(root / "i18n/locales/ru/LC_MESSAGES/bot.po",
                                  root / "i18n/locales/ru/LC_MESSAGES/bot.mo", messages)
    assert sorted(problems) == ["privacy_info: untranslated", "sample_ready: untranslated"]
    zh = catalogue_problems(root / "i18n/locales/zh_Hans/LC_MESSAGES/bot.po",
                            root / "i18n/locales/zh_Hans/LC_MESSAGES/bot.mo", messages)
    assert zh == []  # the Chinese came with the old texts

    translations = tmp_path / "translations.json"
    translations.write_text('''{
      "ru": {"sample_ready": "✅ Шаблон «{name}» готов.",
             "privacy_info": "Мы храним:\\n• твой id\\n• твои фото {days} дн."},
      "es": {"sample_ready": "✅ Tu plantilla «{name}» está lista.",
             "privacy_info": "Guardamos:\\n• tu id\\n• tus fotos {days} días"},
      "pt": {"sample_ready": "✅ Seu modelo \\"{name}\\" está pronto.",
             "privacy_info": "Guardamos:\\n• seu id\\n• suas fotos por {days} dias"},
      "id": {"sample_ready": "✅ Templat \\"{name}\\" sudah siap.",
             "privacy_info": "Kami menyimpan:\\n• id-mu\\n• fotomu selama {days} hari"}
    }''', encoding="utf-8")
    fill(translations, root)
    update(root)
    for language in LANGUAGES:
        if language.locale:
            folder = root / "i18n" / "locales" / language.locale / "LC_MESSAGES"
            assert catalogue_problems(folder / "bot.po", folder / "bot.mo", messages) == [], language.locale
