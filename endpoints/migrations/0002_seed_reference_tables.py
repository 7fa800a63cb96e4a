from django.db import migrations


def seed(apps, schema_editor):
    from endpoints.seeds import HARDWARE_BY_MEMORY, HARDWARE_BY_MODEL, MODEL_REPOSITORIES

    hardware = apps.get_model("endpoints", "RecommendedHardware")
    repositories = apps.get_model("endpoints", "ModelRepository")
    for gpu_memory_le, cpus, gpus, memory, storage, gpu_type in HARDWARE_BY_MEMORY:
        hardware.objects.get_or_create(
            model_name="", gpu_memory_le=gpu_memory_le,
            defaults=dict(cpus=cpus, gpus=gpus, memory=memory, storage=storage, gpu_type=gpu_type),
        )
    for model_name, cpus, gpus, memory, storage, gpu_type, nodes in HARDWARE_BY_MODEL:
        hardware.objects.get_or_create(
            model_name=model_name,
            defaults=dict(cpus=cpus, gpus=gpus, memory=memory, storage=storage, gpu_type=gpu_type, nodes_per_worker=nodes),
        )
    for model_name, hf_repo in MODEL_REPOSITORIES.items():
        repositories.objects.get_or_create(model_name=model_name, defaults={"hf_repo": hf_repo})


class Migration(migrations.Migration):
    dependencies = [("endpoints", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
