"""``salmap serve``: the HTTP API, its batching and the static page (extra ``salmap[serve]``)."""
