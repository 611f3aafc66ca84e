"""Executors of the labelling pipeline other than the local one in ``annotator.core.pipeline``.

``ray_runtime``  joins or starts a Ray runtime and sizes the work from the cluster's resources.
``ray_stream``   runs per-item stages through Ray Data (CPU tasks, a model actor pool, CPU tasks)
                 and streams the records back to the driver.
``ray_label``    the labelling pipeline's stages on that stream; the driver writes every file.

Ray is an optional dependency (``pip install pnp-annotator[cluster]``): nothing here imports
it at module import time, and :func:`ray_runtime.import_ray` says how to install it.
"""
