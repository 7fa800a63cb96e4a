"""JobEvent takes the shared StatusEvent shape (llmengine_site/models.py): statuses up to 32
characters like EndpointEvent's (a widening: no row changes) and newest-first default ordering
(no table change)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0005_fine_tune_proxy'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='jobevent',
            options={'ordering': ['-created_at', '-id']},
        ),
        migrations.AlterField(
            model_name='jobevent',
            name='new_status',
            field=models.CharField(blank=True, default='', max_length=32),
        ),
        migrations.AlterField(
            model_name='jobevent',
            name='old_status',
            field=models.CharField(blank=True, default='', max_length=32),
        ),
    ]
