from django.db import migrations


def seed(apps, schema_editor):
    from jobs.seeds import template_rows

    templates = apps.get_model("jobs", "FineTuneTemplate")
    for row in template_rows():
        base_model = row.pop("base_model")
        templates.objects.get_or_create(base_model=base_model, defaults=row)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
