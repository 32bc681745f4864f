"""The prompts a Word user starts with; operators edit or disable them in the admin."""

from django.db import migrations

SELECTION = {"name": "text", "description": "The selected text in the document.", "required": True}

PROMPTS = [
    {
        "name": "proofread",
        "title": "Proofread the selection",
        "description": "Find spelling, grammar and punctuation mistakes in the selected text and propose corrections.",
        "arguments": [SELECTION],
        "template": (
            "Proofread the text below. First run the spell_check tool on it, then list each mistake "
            "(spelling, grammar, punctuation) with its correction, and end with the corrected text. "
            "Keep the author's wording and tone wherever it is correct.\n\nText:\n{text}"
        ),
    },
    {
        "name": "summarize_selection",
        "title": "Summarize the selection",
        "description": "A short summary of the selected text, with its key points.",
        "arguments": [
            SELECTION,
            {"name": "sentences", "description": "How many sentences (default 3).", "required": False},
        ],
        "template": (
            "Summarize the text below in {sentences} sentences (3 if no number is given). You may use the "
            "summarize and extract_keywords tools. Then list its key points as bullets.\n\nText:\n{text}"
        ),
    },
    {
        "name": "rewrite_tone",
        "title": "Rewrite in another tone",
        "description": "Rewrite the selected text in a given tone (formal, friendly, concise, ...).",
        "arguments": [
            SELECTION,
            {
                "name": "tone", "description": "The tone to write in, like formal or friendly.", "required": True,
                "choices": ["formal", "friendly", "concise", "confident", "neutral", "persuasive", "plain"],
            },
        ],
        "template": (
            "Rewrite the text below in a {tone} tone. Keep its meaning, facts and names; change only how it "
            "is said. Check the readability of the result with the text_statistics tool.\n\nText:\n{text}"
        ),
    },
    {
        "name": "translate_selection",
        "title": "Translate the selection",
        "description": "Translate the selected text into another language.",
        "arguments": [
            SELECTION,
            {
                "name": "language", "description": "The language to translate into.", "required": True,
                "choices": ["English", "French", "German", "Spanish", "Italian", "Portuguese", "Dutch", "Polish"],
            },
        ],
        "template": (
            "Detect the language of the text below with the detect_language tool, then translate it into "
            "{language}. Keep its formatting (paragraphs, lists).\n\nText:\n{text}"
        ),
    },
]


def add_prompts(apps, schema_editor):
    Prompt = apps.get_model("tools", "Prompt")
    for fields in PROMPTS:
        Prompt.objects.get_or_create(name=fields["name"], defaults=fields)


def remove_prompts(apps, schema_editor):
    apps.get_model("tools", "Prompt").objects.filter(name__in=[p["name"] for p in PROMPTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("tools", "0002_prompt")]
    operations = [migrations.RunPython(add_prompts, remove_prompts)]
