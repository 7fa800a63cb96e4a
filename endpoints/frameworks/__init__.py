"""Inference frameworks (TGI, vLLM, LightLLM, TensorRT-LLM, DeepSpeed, SGLang).

`launch` turns an LLM endpoint's serving options into the runnable-image bundle (image
repository, launch command, routes) that the manifests run in the `main` container.
"""
