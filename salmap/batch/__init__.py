"""Batch work over many images, shared by ``salmap predict``, ``salmap crop`` and their engines.

- :mod:`~salmap.batch.inputs`: the images that files, folders and glob patterns name (frames,
  the files left out and why);
- :mod:`~salmap.batch.outputs`: where each image's outputs go (names, collisions, plans,
  existing files: refused, replaced or kept);
- :mod:`~salmap.batch.manifest`: ``manifest.jsonl`` and ``crops.jsonl`` (reading, merging,
  writing);
- :mod:`~salmap.batch.local` and :mod:`~salmap.batch.ray`: the engines. Both take the items and
  a :class:`~salmap.batch.local.Job` (what to do with one image's map) and give each item's
  line; Ray actors run the local engine on their share of the items;
- :mod:`~salmap.batch.predict` and :mod:`~salmap.batch.crop`: the two jobs, and the runs of
  ``salmap predict`` and ``salmap crop`` from Python.
"""
