"""``orchestra eval``: whether orchestration pays, measured on your own models and data.

One run asks every item of a dataset under several strategies (one model, a profile,
k samples of one model voted, a multi-generate panel, a debate), through the gateway's own
HTTP API (in-process over ASGI, or a deployed endpoint with ``--base-url``), grades each
answer, appends it to a results file (so a rerun continues where it stopped) and writes a
report: accuracy with intervals, cost, tokens, calls, latency, a paired test against the
best single model, calibration of fused confidence, and debates' round-by-round changes.

- :mod:`.records`: the items, outcomes, grades and result lines (the files' shapes);
- :mod:`.datasets`: JSONL datasets and the bundled GSM8K test set;
- :mod:`.grading`: the prompts, exact-match and multiple-choice grading, the grader;
- :mod:`.judging`: the judge's prompt, reading its verdict, and picking the judge;
- :mod:`.strategies`: the ``--strategy`` specs;
- :mod:`.client`: the gateway's HTTP API as the evaluation calls it;
- :mod:`.execute`: one item under one strategy -> an :class:`~.records.Outcome`;
- :mod:`.estimate`: a run's cost from the catalog's prices, before anything is spent;
- :mod:`.results`: the append-only results file and the run's manifest;
- :mod:`.runner`: the run (concurrency, resume, spend cap, progress);
- :mod:`.voting`: the one vote of several answers (fusion's clusters), for k samples,
  the report's first-j-samples curve and each debate round's majority;
- :mod:`.stats`: intervals, McNemar, calibration, percentiles;
- :mod:`.summary`, :mod:`.report` and :mod:`.plots`: the figures, the markdown report and its
  SVG pictures.

The package is a client of the gateway: it imports no use case, api or composition
module (the CLI composes it), so the same code measures a laptop and a deployment.
"""
