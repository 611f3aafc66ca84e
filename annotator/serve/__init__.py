"""``pnp-annotator serve``: the engines as a Label Studio ML backend (README "Use with Label Studio").

    labeling.py   the project's labeling config -> image objects, output and smart controls
    images.py     task image URLs -> RGB (local-files root, Label Studio with its token, http(s))
    results.py    shapes / label maps / masks -> Label Studio polygon and brush results
    adapter.py    the calls into annotator.core (pipeline stages, proposals, interactive model)
    engine.py     the one engine thread: batch and interactive lanes, deadlines
    backend.py    /setup, /predict, /webhook: requests -> engine jobs -> predictions
    http.py       the HTTP server (stdlib), JSON errors, basic auth
    command.py    the command line

No Qt here; it sits beside annotator/gui on top of annotator/core.
"""
